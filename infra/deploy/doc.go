// Package deploy holds checks of the container deployment files at the
// repository root.
//
// Dockerfile and docker-compose.yml cannot be exercised where no Docker
// engine runs, so deploy_test.go parses them instead and checks what a typo
// would silently break: every service a process needs is there, every
// environment variable is one infra/config reads, every binary a service
// runs is built and copied into the image, and every process has a health
// check and waits for what it depends on.
package deploy
