package readapi

import (
	"context"
	"time"

	"github.com/fleetpulse/fleetpulse/domain"
)

// LiveStore answers what the projector's recent commits changed, by log
// position: live push reads it after each commit notification, and a
// client that reconnects reads from it what it missed.
type LiveStore interface {
	// LiveChanges returns, in log order then device order, up to limit
	// changes of the given devices (every device when devices is nil)
	// after the cursor: after every change at position after when
	// afterDevice is "", else after that device's change at after (one
	// commit has a change per device: a page may end inside it).
	LiveChanges(ctx context.Context, after domain.Position, afterDevice string, devices []string, limit int) ([]LiveChange, error)
	// LiveBounds returns the newest position pruned from the changes kept
	// (resuming from an older one could miss changes) and the newest
	// position kept (floor when none is).
	LiveBounds(ctx context.Context) (floor, head domain.Position, err error)
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
// models now stand and which devices the commit touched (All when it did
// not say, e.g. a rebuild's swap or too many devices for one notification).
type Commit struct {
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
