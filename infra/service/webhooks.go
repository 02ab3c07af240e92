package service

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/fleetpulse/fleetpulse/commands"
	"github.com/fleetpulse/fleetpulse/infra/config"
	"github.com/fleetpulse/fleetpulse/infra/postgres/webhookstore"
	"github.com/fleetpulse/fleetpulse/infra/webhook"
)

// WebhookGuard is the SSRF guard of the configured allow list
// (FLEETPULSE_WEBHOOK_ALLOW).
func WebhookGuard(cfg config.Config) (*webhook.Guard, error) {
	allow, err := webhook.ParseAllowList(cfg.WebhookAllow)
	if err != nil {
		return nil, fmt.Errorf("FLEETPULSE_WEBHOOK_ALLOW: %w", err)
	}
	return webhook.NewGuard(allow, nil), nil
}

// webhookDisabler hands a delivery worker's run of failures to the
// command side, which decides whether it disables the endpoint.
type webhookDisabler struct {
	handler commands.DisableWebhookHandler
	limit   int
}

func (d webhookDisabler) Disable(ctx context.Context, id string, failures int, lastErr string) (bool, error) {
	return d.handler.Handle(ctx, commands.DisableWebhook{ID: id, Failures: failures, Limit: d.limit, LastError: lastErr})
}

// Webhooks is the webhook dispatcher and its delivery workers, as the
// projector process runs them.
type Webhooks struct {
	Dispatcher *commands.WebhookDispatcher
	Pool       *webhook.Pool
}

// NewWebhooks builds the dispatcher (log -> outbox, with its checkpoint)
// and the delivery workers (outbox -> HTTP), woken by the dispatcher.
func NewWebhooks(cfg config.Config, store EventStore, queue *webhookstore.Store, guard *webhook.Guard, logger *slog.Logger, observe func(commands.WebhookDelivery, commands.WebhookAttempt)) *Webhooks {
	sender := webhook.NewSender(guard, cfg.WebhookTimeout, time.Now)
	pool := webhook.NewPool(queue, sender, webhookDisabler{handler: commands.NewDisableWebhookHandler(store, time.Now), limit: cfg.WebhookDisableAfter}, time.Now,
		logger.With("component", "webhook-delivery"), webhook.PoolConfig{
			DisableAfter: cfg.WebhookDisableAfter, RetryMin: cfg.WebhookRetryMin, RetryMax: cfg.WebhookRetryMax,
			LogRetention: cfg.WebhookLogRetention, Observe: observe,
		})
	d := commands.NewWebhookDispatcher(store, store, queue, logger.With("component", "webhook-dispatcher"),
		commands.WebhookDispatcherConfig{Dispatched: pool.Wake, Enabled: pool.Enabled})
	return &Webhooks{Dispatcher: d, Pool: pool}
}

// Run runs both until ctx ends.
func (w *Webhooks) Run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return w.Dispatcher.Run(gctx) })
	g.Go(func() error { return w.Pool.Run(gctx) })
	return g.Wait()
}

// WebhookMetrics registers the delivery workers' series on reg and returns
// the observer NewWebhooks takes: attempts by outcome and their duration.
func WebhookMetrics(reg prometheus.Registerer) func(commands.WebhookDelivery, commands.WebhookAttempt) {
	attempts := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "fleetpulse_webhook_attempts_total", Help: "Webhook delivery attempts, by outcome (delivered, failed)."}, []string{"outcome"})
	seconds := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "fleetpulse_webhook_attempt_seconds", Help: "Time of one webhook delivery attempt.",
		Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10}})
	reg.MustRegister(attempts, seconds)
	attempts.WithLabelValues("delivered")
	attempts.WithLabelValues("failed")
	return func(_ commands.WebhookDelivery, a commands.WebhookAttempt) {
		outcome := "failed"
		if a.Delivered {
			outcome = "delivered"
		}
		attempts.WithLabelValues(outcome).Inc()
		seconds.Observe(a.Duration.Seconds())
	}
}
