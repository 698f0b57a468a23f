// Package webui is the aggregator's web page: one HTML page, a script and a
// style sheet, embedded in the binary (no CDN, no build step, works
// offline). The page reads everything through the public HTTP APIs (SPEC
// §5), so it holds no data itself and needs no access check of its own.
package webui

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
)

//go:embed static
var static embed.FS

// contentSecurityPolicy allows the page's own files and same-origin API
// calls only: no inline script, no other origin. Data is only ever set as
// text, and this policy keeps it that way if a bug ever tried otherwise.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// asset is one embedded file, ready to serve.
type asset struct {
	body        []byte
	contentType string
	etag        string
}

// Handler serves the page: index.html at GET / and /logs (the aggregator
// routes /logs here for browsers only), and the assets under /ui/. Anything
// else is 404.
type Handler struct {
	index  asset
	assets map[string]asset // by name under /ui/
}

// New loads the embedded files.
func New() (*Handler, error) {
	h := &Handler{assets: make(map[string]asset)}
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := static.ReadFile(p)
		if err != nil {
			return fmt.Errorf("read embedded %s: %w", p, err)
		}
		sum := sha256.Sum256(b)
		ct := mime.TypeByExtension(path.Ext(p))
		if ct == "" {
			ct = "application/octet-stream"
		}
		a := asset{body: b, contentType: ct, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
		name := strings.TrimPrefix(p, "static/")
		if name == "index.html" {
			a.contentType = "text/html; charset=utf-8"
			h.index = a
			return nil
		}
		h.assets[name] = a
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load web page: %w", err)
	}
	if h.index.body == nil {
		return nil, fmt.Errorf("load web page: index.html is not embedded")
	}
	return h, nil
}

// ServeHTTP serves GET and HEAD.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var a asset
	switch p := r.URL.Path; {
	case p == "/" || p == "/logs":
		a = h.index
	case strings.HasPrefix(p, "/ui/"):
		var ok bool
		if a, ok = h.assets[strings.TrimPrefix(p, "/ui/")]; !ok {
			notFound(w)
			return
		}
	default:
		notFound(w)
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", a.contentType)
	hdr.Set("Content-Security-Policy", contentSecurityPolicy)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("X-Frame-Options", "DENY")
	// Revalidated on every load (cheap with the ETag), so a new aggregator
	// never serves a page with a stale script.
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("ETag", a.etag)
	// /logs answers JSON or this page by Accept: caches must keep both.
	hdr.Set("Vary", "Accept")
	if match := r.Header.Get("If-None-Match"); match != "" && etagMatches(match, a.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	hdr.Set("Content-Length", fmt.Sprint(len(a.body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(a.body)
	}
}

// etagMatches reports whether an If-None-Match header lists etag (or *).
func etagMatches(header, etag string) bool {
	for part := range strings.SplitSeq(header, ",") {
		part = strings.TrimPrefix(strings.TrimSpace(part), "W/")
		if part == etag || part == "*" {
			return true
		}
	}
	return false
}

func notFound(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusNotFound)
	_, _ = w.Write([]byte("404 page not found\n"))
}
