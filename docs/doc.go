// Package docs holds the repository's documentation (Markdown) and the
// checks that keep it honest: the HTTP contract in api.md names exactly the
// routes of the two OpenAPI documents, and the docs point only inside the
// repository, never at one machine's paths (docs_test.go).
package docs
