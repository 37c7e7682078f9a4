package config

import (
	"fmt"
	"reflect"
	"strings"
)

// Task is one sync task of a tasks file: its ID becomes the workflow ID.
type Task struct {
	ID      string `json:"id" yaml:"id"`
	Dataset string `json:"dataset" yaml:"dataset"`
	// Line is where the task is written in its file (0 when not read from
	// one); CheckTasks names it.
	Line int `json:"-" yaml:"-"`
}

// MaxBatchTasks is the most tasks one batch (one tasks file) may hold: a
// batch's input, its continue-as-new carry, its result and its status query
// must each fit in one Temporal payload (2 MB); see workflows.CheckBatchSize
// for the byte bound that goes with it.
const MaxBatchTasks = 10_000

// LoadTasks reads a tasks file: a YAML or JSON list of {id, dataset}. IDs
// must be safe identifiers and unique; every problem is returned at once as
// an *Error. Whether the datasets exist is checked by File.CheckTasks.
func LoadTasks(path string) ([]Task, error) {
	data, err := readFile("tasks", path)
	if err != nil {
		return nil, err
	}
	return loadTasks(path, data)
}

func loadTasks(name string, data []byte) ([]Task, error) {
	d := newDecoder()
	var tasks []Task
	root, ok := d.parseDocument(data)
	if ok && root != nil {
		d.decode(root, reflect.ValueOf(&tasks).Elem(), "tasks", 0)
	}
	if ok {
		if len(tasks) == 0 && len(d.problems) == 0 {
			d.addf("tasks", d.lineOf("tasks"), "at least one task is required")
		}
		if len(tasks) > MaxBatchTasks {
			d.addf("tasks", d.lineOf("tasks"), "%d tasks: a batch holds at most %d; split the file into several batches", len(tasks), MaxBatchTasks)
		}
		first := map[string]int{}
		for i := range tasks {
			t := &tasks[i]
			p := fmt.Sprintf("tasks[%d]", i)
			t.Line = d.lines[p]
			if msg := checkID("task id", t.ID); msg != "" {
				d.addf(p+".id", d.lineOf(p+".id"), "%s", msg)
			} else if line, dup := first[t.ID]; dup {
				d.addf(p+".id", d.lineOf(p+".id"), "duplicate task id %q (first at line %d)", t.ID, line)
			} else {
				first[t.ID] = d.lineOf(p + ".id")
			}
			if t.Dataset == "" {
				d.addf(p+".dataset", d.lineOf(p+".dataset"), "the dataset to sync is required")
			}
		}
	}
	ids := make([]string, len(tasks))
	for i, t := range tasks {
		ids[i] = t.ID
	}
	if err := render(name, d.problems, ids); err != nil {
		return nil, err
	}
	return tasks, nil
}

// CheckTasks reports the tasks whose dataset is not in f, naming each task's
// line in tasksPath, in the same form as Load's errors.
func (f *File) CheckTasks(tasks []Task, tasksPath string) error {
	var probs []Problem
	for i, t := range tasks {
		if _, err := f.Dataset(t.Dataset); err == nil {
			continue
		}
		probs = append(probs, Problem{
			File:    tasksPath,
			Line:    t.Line,
			Entry:   fmt.Sprintf("tasks[%d]", i),
			Dataset: t.ID,
			Field:   "dataset",
			Message: fmt.Sprintf("unknown dataset %q (known: %s)", t.Dataset, strings.Join(f.DatasetIDs(), ", ")),
		})
	}
	if len(probs) == 0 {
		return nil
	}
	return &Error{Problems: probs}
}
