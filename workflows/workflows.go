// Package workflows holds syncflow's deterministic code: SyncWorkflow (one
// dataset, page by page) and its input, result and query types, the task
// queue name and the activity options whose retry policies encode the
// backoff. Nothing here does I/O: activities do.
package workflows

import (
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
)

// TaskQueue is the task queue every syncflow worker polls.
const TaskQueue = "syncflow"

// QueryProgress is the name of the query that returns a task's Progress.
const QueryProgress = "progress"

// SyncWorkflowName is the registered name of SyncWorkflow (the name to use
// from the temporal CLI or another SDK).
const SyncWorkflowName = "SyncWorkflow"

// Custom search attributes (Keyword) that syncflow keeps current on its
// workflows, so that `temporal workflow list --query 'SyncDataset="orders"'`
// and the Web UI's filters work. Workers register them at start.
var (
	// SearchAttrDataset is the dataset a SyncWorkflow copies.
	SearchAttrDataset = temporal.NewSearchAttributeKeyKeyword("SyncDataset")
	// SearchAttrState is a SyncWorkflow's state (running, rate_limited,
	// completed, cancelled, failed).
	SearchAttrState = temporal.NewSearchAttributeKeyKeyword("SyncState")
	// SearchAttrBatch is the ID of the BatchWorkflow a task belongs to.
	SearchAttrBatch = temporal.NewSearchAttributeKeyKeyword("SyncBatch")
)

// SearchAttributes lists syncflow's custom search attributes with their
// types, for registration (operator service AddSearchAttributes).
func SearchAttributes() map[string]enumspb.IndexedValueType {
	return map[string]enumspb.IndexedValueType{
		SearchAttrDataset.GetName(): enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		SearchAttrState.GetName():   enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		SearchAttrBatch.GetName():   enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	}
}
