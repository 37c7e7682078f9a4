#!/bin/sh
# Registers the namespace and syncflow's custom search attributes on a running
# Temporal server. Runs in temporalio/admin-tools as the one-shot compose service
# temporal-setup; the worker starts only after it exits 0. Idempotent.
#
# TEMPORAL_ADDRESS and TEMPORAL_NAMESPACE are read by the temporal CLI itself.
# SYNCFLOW_SEARCH_ATTRIBUTES lists NAME:TYPE pairs separated by spaces.
set -eu

: "${TEMPORAL_ADDRESS:?TEMPORAL_ADDRESS is required}"
: "${TEMPORAL_NAMESPACE:?TEMPORAL_NAMESPACE is required}"
: "${SYNCFLOW_SEARCH_ATTRIBUTES:?SYNCFLOW_SEARCH_ATTRIBUTES is required}"
RETENTION="${TEMPORAL_NAMESPACE_RETENTION:-72h}"

# retry TRIES COMMAND...: runs COMMAND until it succeeds, 2s apart.
retry() {
	tries="$1"
	shift
	n=1
	until "$@"; do
		if [ "$n" -ge "$tries" ]; then
			echo "giving up after $tries attempts: $*" >&2
			return 1
		fi
		n=$((n + 1))
		sleep 2
	done
}

echo "waiting for Temporal at $TEMPORAL_ADDRESS to be SERVING"
retry 90 temporal operator cluster health

if temporal operator namespace describe --namespace "$TEMPORAL_NAMESPACE" >/dev/null 2>&1; then
	echo "namespace $TEMPORAL_NAMESPACE exists"
else
	echo "creating namespace $TEMPORAL_NAMESPACE (retention $RETENTION)"
	retry 15 temporal operator namespace create --namespace "$TEMPORAL_NAMESPACE" --retention "$RETENTION"
fi

# A new namespace takes a moment to reach every frontend cache.
retry 30 temporal operator namespace describe --namespace "$TEMPORAL_NAMESPACE" >/dev/null

# Other calls may still answer "namespace not found" for a while after
# describe succeeds (each service's namespace cache refreshes on its own).
list_attributes() {
	existing="$(temporal operator search-attribute list --namespace "$TEMPORAL_NAMESPACE")"
}
retry 30 list_attributes
for pair in $SYNCFLOW_SEARCH_ATTRIBUTES; do
	name="${pair%%:*}"
	type="${pair##*:}"
	if printf '%s\n' "$existing" | grep -qw "$name"; then
		echo "search attribute $name exists"
		continue
	fi
	echo "creating search attribute $name ($type)"
	retry 15 temporal operator search-attribute create --namespace "$TEMPORAL_NAMESPACE" --name "$name" --type "$type"
done
echo "Temporal is ready for syncflow"
