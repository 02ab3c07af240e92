// Package duckdbtest reads the archive with DuckDB, as an analyst would,
// and checks it against the read models. It is the only package that
// links DuckDB (through cgo): the other binaries stay free of it. Built
// without cgo (CGO_ENABLED=0), the package has no test.
package duckdbtest
