package eventstore_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/fleetpulse/fleetpulse/infra/postgres/eventstore"
	"github.com/fleetpulse/fleetpulse/infra/postgres/pgtest"
)

// TestPageQueries_TurnOnlyThePagesDataIntoText checks that a page of the
// log is chosen before its events' data is turned into text. When
// PostgreSQL sorts the rows after the position instead of walking the
// log-order index (it does when a table grew since it was last analysed),
// data::text under the sort was computed for every one of them: reading a
// backlog page by page cost the square of its size. Index scans are turned
// off here to get that plan whatever the statistics.
func TestPageQueries_TurnOnlyThePagesDataIntoText(t *testing.T) {
	pool, _ := pgtest.NewDatabase(t)
	ctx := context.Background()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SET enable_indexscan = off`); err != nil {
		t.Fatal(err)
	}
	for name, q := range eventstore.PageQueries {
		t.Run(name, func(t *testing.T) {
			var plan []struct{ Plan planNode }
			var raw []byte
			if err := conn.QueryRow(ctx, `EXPLAIN (VERBOSE, FORMAT JSON) `+q.SQL, q.Args...).Scan(&raw); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(raw, &plan); err != nil {
				t.Fatal(err)
			}
			sorts := 0
			plan[0].Plan.walk(func(n planNode) {
				if n.NodeType != "Sort" {
					return
				}
				sorts++
				for _, out := range n.Output {
					if strings.Contains(out, "data)::text") {
						t.Errorf("a sort computes %s for every row it sorts:\n%s", out, raw)
					}
				}
			})
			if sorts == 0 {
				t.Fatalf("no sort in the plan with index scans off: the test no longer tests anything\n%s", raw)
			}
		})
	}
}

type planNode struct {
	NodeType string     `json:"Node Type"`
	Output   []string   `json:"Output"`
	Plans    []planNode `json:"Plans"`
}

func (n planNode) walk(fn func(planNode)) {
	fn(n)
	for _, c := range n.Plans {
		c.walk(fn)
	}
}
