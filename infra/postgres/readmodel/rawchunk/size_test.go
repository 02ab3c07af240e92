package rawchunk_test

import (
	"testing"

	"github.com/fleetpulse/fleetpulse/infra/postgres/readmodel/rawchunk"
)

// encodeFunc encodes one realistic chunk of n items whose RecordedAt takes
// batches distinct values, from a series seeded by seed.
type encodeFunc func(c *rawchunk.Codec, seed uint64, n, batches int) ([]byte, error)

func stationChunk(c *rawchunk.Codec, seed uint64, n, batches int) ([]byte, error) {
	return c.AppendPoints(nil, stationSeries(seed, n, batches))
}

func vehicleChunk(c *rawchunk.Codec, seed uint64, n, batches int) ([]byte, error) {
	return c.AppendVehicleEvents(nil, vehicleSamples(seed, n, batches))
}

// The bytes per item the raw read models are sized by (issue 13): chunks
// of realistic data stay within these. The figures are logged (go test -v).
func TestChunkSizes_RealisticDataStaysWithinBudget(t *testing.T) {
	c := newCodec(t)
	tests := []struct {
		name    string
		encode  encodeFunc
		items   int
		batches int
		budget  float64 // bytes an item
	}{
		{"station, an hour of 1-minute pm25", stationChunk, 60, 1, 12},
		{"station, an hour of 1-minute pm25, 4 batches", stationChunk, 60, 4, 12},
		{"station, a day of 1-minute pm25", stationChunk, 1440, 1, 6},
		{"station, a day of 1-minute pm25, 24 batches", stationChunk, 1440, 24, 6},
		{"vehicle, a minute of 1-second samples", vehicleChunk, 60, 1, 90},
		{"vehicle, an hour of 1-second samples", vehicleChunk, 3600, 1, 60},
		{"vehicle, an hour of 1-second samples, 60 batches", vehicleChunk, 3600, 60, 60},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Several series, as a fleet has: the figure is their mean.
			const series = 8
			total := 0
			for s := range series {
				b, err := tc.encode(c, uint64(s)+1, tc.items, tc.batches)
				if err != nil {
					t.Fatal(err)
				}
				total += len(b)
			}
			perItem := float64(total) / float64(series*tc.items)
			t.Logf("%5d items: %8.1f bytes a chunk, %6.2f bytes an item (budget %g)", tc.items, float64(total)/series, perItem, tc.budget)
			if perItem > tc.budget {
				t.Errorf("%.2f bytes an item, over the budget of %g", perItem, tc.budget)
			}
		})
	}
}
