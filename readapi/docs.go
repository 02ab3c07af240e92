package readapi

import _ "embed"

// openAPI is the read API's OpenAPI 3 document, written by hand and checked
// against the routes and real answers by openapi_test.go.
//
//go:embed openapi.json
var openAPI []byte
