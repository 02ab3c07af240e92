package service

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fleetpulse/fleetpulse/commands"
	"github.com/fleetpulse/fleetpulse/infra/bus"
	"github.com/fleetpulse/fleetpulse/infra/config"
	"github.com/fleetpulse/fleetpulse/infra/mqttbridge"
	"github.com/fleetpulse/fleetpulse/infra/wire"
)

// RunMQTTBridge carries devices' MQTT messages to dispatcher until ctx ends;
// it then lets messages being handled finish before it disconnects, so the
// caller closes the dispatcher only after it returns.
// metrics, when not nil, counts its messages.
func RunMQTTBridge(ctx context.Context, cfg config.Config, dispatcher wire.Dispatcher, metrics *mqttbridge.Metrics, logger *slog.Logger) error {
	b := mqttbridge.New(dispatcher, mqttbridge.Config{
		URL:             cfg.MQTTURL,
		ClientID:        cfg.MQTTClientID,
		ShareGroup:      cfg.MQTTShareGroup,
		TopicRoot:       cfg.MQTTTopicRoot,
		AdminToken:      cfg.AdminToken,
		MaxPayloadBytes: cfg.MaxBodyBytes,
		DispatchTimeout: cfg.RequestTimeout,
		Metrics:         metrics,
	}, logger.With("component", "mqtt-bridge"))
	logger.Info("mqtt bridge starting", "url", b.Broker(), "client_id", cfg.MQTTClientID)
	return b.Run(ctx)
}

// startMQTTBridge runs the bridge beside the command API when it is enabled,
// its series on reg; stop ends it and returns its error (nil when disabled).
func startMQTTBridge(ctx context.Context, cfg config.Config, dispatcher wire.Dispatcher, reg prometheus.Registerer, logger *slog.Logger) (stop func() error) {
	if !cfg.MQTTEnabled {
		return func() error { return nil }
	}
	metrics := mqttbridge.NewMetrics(reg)
	ctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() {
		err := RunMQTTBridge(ctx, cfg, dispatcher, metrics, logger)
		if err != nil {
			logger.Error("mqtt bridge stopped; the command API goes on without it", "err", err)
		}
		errc <- err
	}()
	return func() error {
		cancel()
		return <-errc
	}
}

// RunMQTTBridgeAlone runs the bridge as a process of its own: it builds the
// command handlers behind an in-process bus, as the command API does, and
// closes the bus after the bridge has drained.
func RunMQTTBridgeAlone(ctx context.Context, cfg config.Config, env Env, logger *slog.Logger) error {
	app := commands.NewApplication(env.Store, time.Now, TelemetryPolicy(cfg))
	cmdBus, err := bus.NewInProcess(app, logger, cfg.RequestTimeout)
	if err != nil {
		return err
	}
	// A process of its own serves no metrics: run the bridge inside the
	// command API (FLEETPULSE_MQTT_ENABLED) to have them.
	err = RunMQTTBridge(ctx, cfg, cmdBus, nil, logger)
	return errors.Join(err, cmdBus.Close())
}
