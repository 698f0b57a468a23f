package httpapi

import (
	"bytes"
	"crypto/sha256"
	_ "embed" // the OpenAPI document
	"encoding/hex"
	"net/http"
	"time"
)

// openAPIDocument is the OpenAPI 3.1 document of every route of this
// package (SPEC §5.6), served at GET /openapi.json. It is kept by hand in
// openapi.json; TestOpenAPIMatchesRouter fails when it and the router
// disagree. Never modified.
//
//go:embed openapi.json
var openAPIDocument []byte

// serveOpenAPI returns the handler of GET /openapi.json: the document as
// application/json with a strong ETag, so that If-None-Match answers 304
// (and HEAD, Range and the other conditional requests work as
// http.ServeContent has them). The ETag is computed once, here.
func serveOpenAPI() http.HandlerFunc {
	sum := sha256.Sum256(openAPIDocument)
	etag := `"` + hex.EncodeToString(sum[:16]) + `"`
	return func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", contentTypeJSON)
		h.Set("ETag", etag)
		h.Set("Cache-Control", "no-cache")
		http.ServeContent(w, r, "openapi.json", time.Time{}, bytes.NewReader(openAPIDocument))
	}
}
