package connect

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"google.golang.org/grpc/codes"
)

// ErrNotPermitted is matched (errors.Is) by the error of EnsureSearchAttributes
// when the server does not let this client register search attributes, as on
// Temporal Cloud with a namespace API key: an operator registers them once by
// hand (the error says how) and the worker can run without them meanwhile.
var ErrNotPermitted = errors.New("not permitted to register search attributes")

// EnsureSearchAttributes registers the custom search attributes in attrs in
// namespace, leaving those already registered with the same type alone, so
// any number of workers may call it at start. An attribute registered with
// another type is an error.
func EnsureSearchAttributes(ctx context.Context, c client.Client, namespace string, attrs map[string]enums.IndexedValueType) error {
	if len(attrs) == 0 {
		return nil
	}
	missing, err := missingSearchAttributes(ctx, c, namespace, attrs)
	if err != nil {
		return err
	}
	if len(missing) == 0 {
		return nil
	}
	_, err = c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace:        namespace,
		SearchAttributes: missing,
	})
	if err == nil {
		return nil
	}
	switch serviceerror.ToStatus(err).Code() {
	case codes.AlreadyExists:
		// Another worker won the race; check it registered the same types.
		if missing, err := missingSearchAttributes(ctx, c, namespace, attrs); err != nil || len(missing) > 0 {
			return fmt.Errorf("register search attributes %s in namespace %q: still missing after a concurrent registration", names(attrs), namespace)
		}
		return nil
	case codes.PermissionDenied, codes.Unauthenticated, codes.Unimplemented:
		return fmt.Errorf("register search attributes in namespace %q: %w (%v); register them by hand: %s",
			namespace, ErrNotPermitted, err, manualCommands(namespace, missing))
	default:
		return fmt.Errorf("register search attributes %s in namespace %q: %w", names(missing), namespace, err)
	}
}

// missingSearchAttributes returns the attributes of want not yet registered,
// or an error if one is registered with another type.
func missingSearchAttributes(ctx context.Context, c client.Client, namespace string, want map[string]enums.IndexedValueType) (map[string]enums.IndexedValueType, error) {
	resp, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		switch serviceerror.ToStatus(err).Code() {
		case codes.PermissionDenied, codes.Unauthenticated, codes.Unimplemented:
			return nil, fmt.Errorf("list search attributes in namespace %q: %w (%v); register them by hand: %s",
				namespace, ErrNotPermitted, err, manualCommands(namespace, want))
		}
		return nil, fmt.Errorf("list search attributes in namespace %q: %w", namespace, err)
	}
	have := resp.GetCustomAttributes()
	missing := map[string]enums.IndexedValueType{}
	var conflicts []string
	for _, name := range slices.Sorted(maps.Keys(want)) {
		t, ok := have[name]
		switch {
		case !ok:
			missing[name] = want[name]
		case t != want[name]:
			conflicts = append(conflicts, fmt.Sprintf("%s is %s, want %s", name, t, want[name]))
		}
	}
	if len(conflicts) > 0 {
		return nil, fmt.Errorf("search attributes in namespace %q have the wrong type: %s", namespace, strings.Join(conflicts, "; "))
	}
	return missing, nil
}

// manualCommands is what an operator runs to register attrs with the
// temporal CLI (Temporal Cloud: tcld namespace search-attributes add).
func manualCommands(namespace string, attrs map[string]enums.IndexedValueType) string {
	var cmds []string
	for _, name := range slices.Sorted(maps.Keys(attrs)) {
		typ := strings.TrimPrefix(attrs[name].String(), "INDEXED_VALUE_TYPE_")
		cmds = append(cmds, fmt.Sprintf("temporal operator search-attribute create --namespace %s --name %s --type %s", namespace, name, typeName(typ)))
	}
	return strings.Join(cmds, " && ")
}

// typeName turns KEYWORD_LIST into KeywordList, the CLI's spelling.
func typeName(upper string) string {
	var b strings.Builder
	for _, part := range strings.Split(strings.ToLower(upper), "_") {
		if part == "" {
			continue
		}
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String()
}

func names(attrs map[string]enums.IndexedValueType) string {
	return strings.Join(slices.Sorted(maps.Keys(attrs)), ", ")
}
