// The mqtt-bridge process carries devices' MQTT messages (see README, "MQTT
// ingestion") to the command handlers, apart from the command API. Several
// may run: they share the broker's subscription and split the messages.
// Configuration comes from FLEETPULSE_* environment variables (see README).
package main

import (
	"github.com/fleetpulse/fleetpulse/infra/service"
)

func main() {
	service.Main("mqtt-bridge", service.WithPostgres(service.RunMQTTBridgeAlone))
}
