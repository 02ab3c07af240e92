package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/fleetpulse/fleetpulse/commands"
	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/postgres/readmodel"
	"github.com/fleetpulse/fleetpulse/infra/service"
)

// operator is who the CLI acts as: whoever can reach the database is
// trusted as the operator is.
var operator = commands.Caller{Admin: true}

func readKeyCommand(c *cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "read-key <create|list|revoke>",
		Short: "Manage the keys readers (dashboards, scripts) present to the read API",
		Args:  commandArgs,
		RunE:  needsSubcommand,
	}
	cmd.AddCommand(readKeyCreateCommand(c), readKeyListCommand(c), readKeyRevokeCommand(c))
	return cmd
}

// readKeyJSON is a read key in `read-key create --json` and `read-key list --json`.
type readKeyJSON struct {
	ID        string     `json:"id"`
	Key       string     `json:"key,omitempty"` // create only: shown once
	Name      string     `json:"name"`
	Devices   []string   `json:"devices"` // null: every device
	CreatedAt *time.Time `json:"created_at,omitempty"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

func readKeyCreateCommand(c *cli) *cobra.Command {
	var (
		name    string
		devices []string
		asJSON  bool
	)
	cmd := leaf("create", "Create a read API key and print it, once",
		"Records a new read key in the event log (only its SHA-256 is stored) and prints it: it is shown this once.\n"+
			"Without --device it reads every device; with --device (repeatable, or comma-separated) only those devices'\n"+
			"routes, and no fleet-wide route (lists, alerts, metrics). The read API accepts it once the projector has\n"+
			"applied it, usually well under a second.",
		func(cmd *cobra.Command) error {
			if strings.TrimSpace(name) == "" {
				return usagef("--name is required: what the key is for, e.g. --name 'depot wall screen'")
			}
			var scope []string
			if cmd.Flags().Changed("device") {
				scope = devices
				if len(scope) == 0 {
					return usagef("--device needs a device id; leave it out for a key that reads every device")
				}
			}
			return c.withPostgres(cmd.Context(), slog.LevelWarn, func(ctx context.Context, w work) error {
				created, err := createReadKey(ctx, w, name, scope)
				if err != nil {
					return err
				}
				if asJSON {
					return c.writeJSON(created)
				}
				fmt.Fprintf(c.stdout, "id   %s\nkey  %s\n", created.ID, created.Key)
				fmt.Fprintln(c.stderr, "This is the only time the key is shown: only its hash is stored. Send it to the read API as\n"+
					"Authorization: Bearer <key>, or paste it into the dashboard.")
				return nil
			})
		})
	cmd.Flags().StringVar(&name, "name", "", "what the key is for (required)")
	cmd.Flags().StringSliceVar(&devices, "device", nil, "a device the key may read (repeatable); none: every device")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON object instead of lines")
	return cmd
}

// createReadKey records a new read key as the operator and returns it with
// the key itself, which exists nowhere else.
func createReadKey(ctx context.Context, w work, name string, devices []string) (readKeyJSON, error) {
	id := uuid.Must(uuid.NewV7()).String()
	key, hash := domain.NewReadKey(id)
	app := commands.NewApplication(w.env.Store, time.Now, service.TelemetryPolicy(w.cfg))
	_, err := app.CreateReadKey.Handle(ctx, &commands.CreateReadKey{Caller: operator, KeyID: id, Name: name, Devices: devices, KeyHash: hash})
	if err != nil {
		return readKeyJSON{}, err
	}
	return readKeyJSON{ID: id, Key: key, Name: strings.TrimSpace(name), Devices: devices}, nil
}

func readKeyListCommand(c *cli) *cobra.Command {
	var asJSON bool
	cmd := leaf("list", "List the read keys (never the keys themselves)",
		"Lists every read key the projector has applied, oldest first: id, name, devices, when created and revoked.",
		func(cmd *cobra.Command) error {
			return c.withPostgres(cmd.Context(), slog.LevelWarn, func(ctx context.Context, w work) error {
				keys, err := readmodel.ReadKeys(ctx, w.env.Pool)
				if err != nil {
					return err
				}
				if asJSON {
					out := make([]readKeyJSON, 0, len(keys))
					for _, k := range keys {
						created := k.CreatedAt.UTC()
						out = append(out, readKeyJSON{ID: k.ID, Name: k.Name, Devices: k.Devices, CreatedAt: &created, RevokedAt: utc(k.RevokedAt)})
					}
					return c.writeJSON(out)
				}
				tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tNAME\tDEVICES\tCREATED\tREVOKED")
				for _, k := range keys {
					devices, revoked := "(every device)", "-"
					if k.Devices != nil {
						devices = strings.Join(k.Devices, ",")
					}
					if k.RevokedAt != nil {
						revoked = k.RevokedAt.UTC().Format(time.RFC3339)
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.ID, k.Name, devices, k.CreatedAt.UTC().Format(time.RFC3339), revoked)
				}
				return tw.Flush()
			})
		})
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array instead of a table")
	return cmd
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func readKeyRevokeCommand(c *cli) *cobra.Command {
	var (
		id  string
		yes bool
	)
	cmd := leaf("revoke", "Revoke a read key",
		"Records the revocation of read key --id: the read API refuses the key (401) once the projector has applied it\n"+
			"and its key cache (FLEETPULSE_READ_KEY_CACHE_TTL) has let it go. Asks first on a terminal; needs --yes otherwise.",
		func(cmd *cobra.Command) error {
			if id == "" {
				return usagef("--id is required: the key to revoke (fleetpulse read-key list shows them)")
			}
			return c.withPostgres(cmd.Context(), slog.LevelWarn, func(ctx context.Context, w work) error {
				what := "revokes read key " + id
				if keys, err := readmodel.ReadKeys(ctx, w.env.Pool); err == nil {
					for _, k := range keys {
						if k.ID == id {
							what += fmt.Sprintf(" (%q)", k.Name)
						}
					}
				}
				if err := c.confirm(cmd, yes, what+": every reader using it loses access"); err != nil {
					return err
				}
				app := commands.NewApplication(w.env.Store, time.Now, service.TelemetryPolicy(w.cfg))
				if _, err := app.RevokeReadKey.Handle(ctx, &commands.RevokeReadKey{Caller: operator, KeyID: id}); err != nil {
					return err
				}
				fmt.Fprintf(c.stdout, "read key %s revoked\n", id)
				return nil
			})
		})
	cmd.Flags().StringVar(&id, "id", "", "the key to revoke (required)")
	addYes(cmd, &yes)
	return cmd
}
