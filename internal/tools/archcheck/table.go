package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
)

// architectureFile is the document holding the table, at the module root.
const architectureFile = "ARCHITECTURE.md"

// sectionHeading opens the section holding the table.
const sectionHeading = "## Package map"

// rule is one package's row of the table.
type rule struct {
	line     int             // line of the row in the document
	anything bool            // "everything": any module-internal import
	allowed  map[string]bool // the module-internal packages it may import
}

// allowedList renders the rule's "may import" cell for messages.
func (r rule) allowedList() string {
	if r.anything {
		return "everything"
	}
	if len(r.allowed) == 0 {
		return "—"
	}
	return strings.Join(sortedKeys(r.allowed), ", ")
}

// table maps a package path, relative to the module, to its rule.
type table map[string]rule

// tableColumns are the header cells the table must have, in any order.
var tableColumns = []string{"package", "what lives there", "may import"}

// parseTable reads the first Markdown table of the "## Package map" section.
func parseTable(r io.Reader) (table, error) {
	rows, err := sectionTable(r)
	if err != nil {
		return nil, err
	}
	cols, err := columnIndexes(rows[0].cells)
	if err != nil {
		return nil, fmt.Errorf("line %d: %w", rows[0].line, err)
	}
	t := table{}
	for _, row := range rows[2:] {
		if err := t.addRow(row, cols); err != nil {
			return nil, fmt.Errorf("line %d: %w", row.line, err)
		}
	}
	return t, nil
}

// tableRow is one line of a Markdown table, split into trimmed cells.
type tableRow struct {
	line  int
	cells []string
}

// sectionTable returns the rows of the first table in the section, the
// header and the delimiter row included.
func sectionTable(r io.Reader) ([]tableRow, error) {
	sc := bufio.NewScanner(r)
	var rows []tableRow
	inSection := false
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "#"):
			if len(rows) > 0 {
				return checkedRows(rows)
			}
			if headingLevel(line) <= 2 { // a subsection stays in the section
				inSection = isSectionHeading(line)
			}
		case inSection && strings.HasPrefix(line, "|"):
			rows = append(rows, tableRow{line: n, cells: splitRow(line)})
		case len(rows) > 0:
			return checkedRows(rows) // the table ended
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("no table under %q", sectionHeading)
	}
	return checkedRows(rows)
}

// isSectionHeading reports whether line is the section's heading, allowing
// a trailing "#" run.
func isSectionHeading(line string) bool {
	return strings.EqualFold(strings.TrimSpace(strings.TrimRight(line, "#")), sectionHeading)
}

// headingLevel is the number of "#" that open a heading line.
func headingLevel(line string) int {
	return len(line) - len(strings.TrimLeft(line, "#"))
}

// checkedRows checks that rows start with a header and a delimiter row.
func checkedRows(rows []tableRow) ([]tableRow, error) {
	if len(rows) < 2 {
		return nil, fmt.Errorf("line %d: a table needs a header and a delimiter row", rows[0].line)
	}
	for _, c := range rows[1].cells {
		if strings.Trim(c, ":- ") != "" || !strings.Contains(c, "-") {
			return nil, fmt.Errorf("line %d: not a table delimiter row", rows[1].line)
		}
	}
	return rows, nil
}

// splitRow splits "| a | b \| c |" into its cells, unescaping "\|".
func splitRow(line string) []string {
	line = strings.TrimPrefix(line, "|")
	if strings.HasSuffix(line, "|") && !strings.HasSuffix(line, `\|`) {
		line = line[:len(line)-1]
	}
	var cells []string
	var cell strings.Builder
	for i := 0; i < len(line); i++ {
		switch {
		case line[i] == '\\' && i+1 < len(line) && line[i+1] == '|':
			cell.WriteByte('|')
			i++
		case line[i] == '|':
			cells = append(cells, strings.TrimSpace(cell.String()))
			cell.Reset()
		default:
			cell.WriteByte(line[i])
		}
	}
	return append(cells, strings.TrimSpace(cell.String()))
}

// columnIndexes finds each of tableColumns in the header cells.
func columnIndexes(header []string) (map[string]int, error) {
	cols := map[string]int{}
	for i, c := range header {
		cols[strings.ToLower(strings.Trim(c, "*_` "))] = i
	}
	for _, want := range tableColumns {
		if _, ok := cols[want]; !ok {
			return nil, fmt.Errorf("table header has no %q column (want %s)", want, strings.Join(tableColumns, " | "))
		}
	}
	return cols, nil
}

// addRow adds the rule of one table row for each package it names.
func (t table) addRow(row tableRow, cols map[string]int) error {
	cell := func(name string) string {
		if i := cols[name]; i < len(row.cells) {
			return row.cells[i]
		}
		return ""
	}
	pkgs := splitNames(cell("package"))
	if len(pkgs) == 0 {
		return errors.New("no package named")
	}
	r, err := parseAllowed(cell("may import"))
	if err != nil {
		return err
	}
	r.line = row.line
	for _, p := range pkgs {
		if prev, dup := t[p]; dup {
			return fmt.Errorf("package %s listed twice (first at line %d)", p, prev.line)
		}
		t[p] = r
	}
	return nil
}

// parseAllowed reads a "may import" cell.
func parseAllowed(cell string) (rule, error) {
	names := splitNames(cell)
	switch {
	case len(names) == 0:
		return rule{}, errors.New(`empty "may import" cell (write — for none)`)
	case len(names) == 1 && (names[0] == "—" || names[0] == "-"):
		return rule{allowed: map[string]bool{}}, nil
	case len(names) == 1 && strings.EqualFold(names[0], "everything"):
		return rule{anything: true}, nil
	}
	r := rule{allowed: map[string]bool{}}
	for _, n := range names {
		if n == "—" || n == "-" || strings.EqualFold(n, "everything") {
			return rule{}, fmt.Errorf("%q cannot be combined with package names", n)
		}
		r.allowed[n] = true
	}
	return r, nil
}

// splitNames splits a comma-separated cell into names without backticks.
func splitNames(cell string) []string {
	var names []string
	for n := range strings.SplitSeq(cell, ",") {
		if n = strings.TrimSpace(strings.Trim(strings.TrimSpace(n), "`")); n != "" {
			names = append(names, n)
		}
	}
	return names
}
