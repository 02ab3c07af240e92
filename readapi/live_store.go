package readapi

import (
	"context"
	"time"

	"github.com/fleetpulse/fleetpulse/domain"
)

// LiveStore answers what the projector's recent commits changed, by log
// position: live push reads it after each commit notification, and a
// client that reconnects reads from it what it missed. Partitioned
// projectors (shares) commit independently, so one share's positions may
// be below what another has committed: changes are read per share, and
// each device's changes are written by one share, in log order.
type LiveStore interface {
	// LiveChanges returns, in log order then device order, up to limit of
	// share's changes after the cursor: after every change at position
	// after when afterDevice is "", else after that device's change at
	// after (one commit has a change per device: a page may end inside it).
	LiveChanges(ctx context.Context, share int, after domain.Position, afterDevice string, limit int) ([]LiveChange, error)
	// DeviceLiveChanges returns up to limit of device's changes after
	// after, in log order.
	DeviceLiveChanges(ctx context.Context, device string, after domain.Position, limit int) ([]LiveChange, error)
	// LiveHeads returns the newest position kept (or pruned) of each
	// share that has recorded changes; a share not in it has recorded
	// none that are kept.
	LiveHeads(ctx context.Context) (map[int]domain.Position, error)
	// LiveDevice returns the share that records device's changes and the
	// newest position that share has pruned (resuming from an older one
	// could miss changes).
	LiveDevice(ctx context.Context, device string) (share int, floor domain.Position, err error)
}

// LiveChange is what one projector commit changed for one device.
type LiveChange struct {
	// Position is the log position of the commit's last event: the SSE id.
	Position    domain.Position
	DeviceID    string
	CommittedAt time.Time
	Points      []LivePoint    // a station's new raw points
	Events      []VehicleEvent // a vehicle's new events
	Alerts      []Alert        // alerts raised or cleared
}

// LivePoint is one new raw point of a station, with its type.
type LivePoint struct {
	Type       string    `json:"type"`
	MeasuredAt time.Time `json:"measured_at"`
	Value      float64   `json:"value"`
}

// Commit is what a projector commit notification says: where the read
// models of its share now stand and which devices the commit touched (All
// when it did not say, e.g. a rebuild's swap or too many devices for one
// notification).
type Commit struct {
	Share    int // of the partitioned projection; 0 when it is not partitioned
	Position domain.Position
	Devices  []string
	All      bool
}

// CommitListener delivers the projector's commit notifications.
type CommitListener interface {
	// Listen calls connected each time it (re)connects, before any commit
	// it then hears (notifications sent while it was away are lost), and
	// commit for each notification, in commit order, until ctx ends.
	// disconnected is called when the connection is lost. It returns nil
	// when ctx ends.
	Listen(ctx context.Context, connected, disconnected func(), commit func(Commit)) error
}
