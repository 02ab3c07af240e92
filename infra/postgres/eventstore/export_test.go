package eventstore

// PageQueries are the statements that read a page of the log, with
// arguments that select every event, for pages_test.go.
var PageQueries = map[string]struct {
	SQL  string
	Args []any
}{
	"readAfter":               {readAfterSQL, []any{0, 0, 10}},
	"readAfterUntil":          {readAfterUntilSQL, []any{0, 0, int64(1) << 62, int64(1) << 62, 10}},
	"readAfterOrLastArchived": {readAfterOrLastArchivedSQL, []any{0, 0, 10}},
	"archiveCandidates":       {archiveCandidatesSQL, []any{0, 0, int64(1) << 62, int64(1) << 62, telemetryTypes, 10}},
}
