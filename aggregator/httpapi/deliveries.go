package httpapi

import (
	"crypto/sha1" //nolint:gosec // UUIDv5 is defined with SHA-1 (RFC 9562 §5.5).
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/hooktail/hooktail/aggregator"
)

// Limits of the deliveries API (seed 002).
const (
	deliveriesDefaultLimit = 50
	deliveriesMaxLimit     = 100
	// deliveriesMaxPage keeps (page-1)*limit far from overflowing.
	deliveriesMaxPage = 1 << 31
)

// urlNamespace is RFC 9562's URL namespace for name-based UUIDs.
var urlNamespace = [16]byte{0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}

// EndpointID is the id of an endpoint (a source name) in the deliveries
// API: the UUIDv5 of "hooktail:endpoint:<name>" in the URL namespace.
func EndpointID(name string) string {
	h := sha1.New() //nolint:gosec // see the import.
	h.Write(urlNamespace[:])
	h.Write([]byte("hooktail:endpoint:" + name))
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x50 // version 5
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant
	return formatUUID(u)
}

func formatUUID(u [16]byte) string {
	const hexDigits = "0123456789abcdef"
	var b strings.Builder
	b.Grow(36)
	for i, c := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b.WriteByte('-')
		}
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&0x0f])
	}
	return b.String()
}

// parseUUID accepts the canonical 8-4-4-4-12 hex form, any case, and
// returns it lower-cased.
func parseUUID(s string) (string, bool) {
	if len(s) != 36 {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return "", false
			}
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f', c >= 'A' && c <= 'F':
		default:
			return "", false
		}
	}
	return strings.ToLower(s), true
}

// EndpointSlug is an endpoint's slug: the lower-cased name with every run
// of characters other than a-z and 0-9 turned into one '-'.
func EndpointSlug(name string) string {
	var b strings.Builder
	dash := false
	for _, c := range strings.ToLower(name) {
		if (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') {
			b.WriteRune(c)
			dash = false
			continue
		}
		if !dash {
			b.WriteByte('-')
			dash = true
		}
	}
	return b.String()
}

// rfc3339 formats t as RFC 3339 UTC with Z and up to microseconds.
func rfc3339(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.999999Z07:00")
}

// rfc3339OrNil is rfc3339 for a possibly unknown (zero) time.
func rfc3339OrNil(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := rfc3339(t)
	return &s
}

// statusOf maps a delivery state to seed 002's status (SPEC §4 table).
func statusOf(st aggregator.State) string {
	switch st {
	case aggregator.StateProcessing:
		return "forwarding"
	case aggregator.StateCompleted:
		return "responded"
	case aggregator.StateFailed:
		return "error"
	case aggregator.StateTimeout:
		return "timeout"
	default:
		return "pending"
	}
}

// statesFor maps seed 002 status names (and hooktail's state names) to
// states.
var statesFor = map[string]aggregator.State{
	"pending":    aggregator.StatePending,
	"forwarding": aggregator.StateProcessing,
	"processing": aggregator.StateProcessing,
	"responded":  aggregator.StateCompleted,
	"completed":  aggregator.StateCompleted,
	"error":      aggregator.StateFailed,
	"failed":     aggregator.StateFailed,
	"timeout":    aggregator.StateTimeout,
}

// deliveryStep is one item of a delivery's steps.
type deliveryStep struct {
	Name       string     `json:"name"`
	Status     string     `json:"status"`
	StartedAt  *string    `json:"started_at"`
	DurationMS *int64     `json:"duration_ms"`
	Error      *errorJSON `json:"error"`
}

// deliveryAttempt is one item of a delivery's attempts.
type deliveryAttempt struct {
	Attempt     int     `json:"attempt"`
	Status      string  `json:"status"`
	ReceivedAt  *string `json:"received_at"`
	RespondedAt *string `json:"responded_at"`
}

// deliveryJSON is a delivery in seed 002's shape (SPEC §5.3): what the logs
// do not carry is null, never invented.
type deliveryJSON struct {
	ID              string            `json:"id"`
	EndpointID      string            `json:"endpoint_id"`
	EndpointName    string            `json:"endpoint_name"`
	EndpointSlug    string            `json:"endpoint_slug"`
	Status          string            `json:"status"`
	RequestMethod   *string           `json:"request_method"`
	RequestURL      *string           `json:"request_url"`
	RequestHeaders  map[string]string `json:"request_headers"`
	RequestBody     *string           `json:"request_body"`
	ResponseStatus  *int              `json:"response_status"`
	ResponseHeaders map[string]string `json:"response_headers"`
	ResponseBody    *string           `json:"response_body"`
	ErrorMessage    *string           `json:"error_message"`
	ReceivedAt      *string           `json:"received_at"`
	RespondedAt     *string           `json:"responded_at"`
	DurationMS      *int64            `json:"duration_ms"`
	EventType       *string           `json:"event_type"`
	Repository      *string           `json:"repository"`
	PRNumber        *int64            `json:"pr_number"`
	Attempt         int               `json:"attempt"`
	HasErrors       bool              `json:"has_errors"`
	Steps           []deliveryStep    `json:"steps"`
	// Attempts is set by GET /api/logs/{id} only.
	Attempts *[]deliveryAttempt `json:"attempts,omitempty"`
}

// newDeliveryJSON converts a delivery; withAttempts adds its attempts.
func newDeliveryJSON(d *aggregator.Delivery, withAttempts bool) deliveryJSON {
	out := deliveryJSON{
		ID:           d.HookID,
		EndpointID:   EndpointID(d.Service),
		EndpointName: d.Service,
		EndpointSlug: EndpointSlug(d.Service),
		Status:       statusOf(d.State),
		// The logs carry the delivery GUID and the event: they are the
		// two request headers known.
		RequestHeaders: map[string]string{"x-github-delivery": d.HookID},
		ReceivedAt:     rfc3339OrNil(deliveryStart(d)),
		RespondedAt:    rfc3339OrNil(d.CompletedAt),
		DurationMS:     totalDuration(d, deliveryStart(d)),
		EventType:      strOrNil(d.EventType),
		Repository:     strOrNil(repositoryName(d)),
		Attempt:        d.Attempt,
		HasErrors:      d.HasErrors,
		Steps:          []deliveryStep{},
	}
	if d.EventType != "" {
		out.RequestHeaders["x-github-event"] = d.EventType
	}
	if d.Error != nil {
		msg := d.Error.Message
		if msg == "" {
			msg = d.Error.Type
		}
		out.ErrorMessage = strOrNil(msg)
	}
	if d.PRNumber != 0 {
		n := d.PRNumber
		out.PRNumber = &n
	}
	for _, st := range sortedSteps(d.Steps) {
		out.Steps = append(out.Steps, deliveryStep{
			Name:       st.Name,
			Status:     st.Status,
			StartedAt:  rfc3339OrNil(st.StartedAt),
			DurationMS: st.DurationMS,
			Error:      newErrorJSON(st.Error),
		})
	}
	if !withAttempts {
		return out
	}
	attempts := make([]deliveryAttempt, 0, len(d.Attempts))
	for _, a := range d.Attempts {
		attempts = append(attempts, deliveryAttempt{
			Attempt:     a.Attempt,
			Status:      statusOf(a.State),
			ReceivedAt:  rfc3339OrNil(a.ReceivedAt),
			RespondedAt: rfc3339OrNil(a.CompletedAt),
		})
	}
	out.Attempts = &attempts
	return out
}

// repositoryName prefers the full name when the logs gave it.
func repositoryName(d *aggregator.Delivery) string {
	if d.RepositoryFullName != "" {
		return d.RepositoryFullName
	}
	return d.Repository
}

// badRequestAPI answers 400 {"error": msg}.
func badRequestAPI(w http.ResponseWriter, msg string) {
	writeJSON(w, http.StatusBadRequest, apiError{Error: msg})
}

// apiInt reads an optional integer parameter within [lo, hi]; ok=false
// after answering 400.
func apiInt(w http.ResponseWriter, q *queryParams, name string, def, lo, hi int64) (int64, bool) {
	raw, set := q.lookup(name)
	if !set {
		return def, true
	}
	v, err := strconv.ParseInt(strings.TrimSpace(raw), 10, 64)
	if err != nil || v < lo || v > hi {
		badRequestAPI(w, fmt.Sprintf("Invalid %s: must be an integer between %d and %d", name, lo, hi))
		return 0, false
	}
	return v, true
}

// apiTime reads an optional ISO 8601 time parameter; ok=false after
// answering 400.
func apiTime(w http.ResponseWriter, q *queryParams, name string) (time.Time, bool) {
	raw := q.str(name)
	if raw == "" {
		return time.Time{}, true
	}
	t, ok := parseISOTime(raw)
	if !ok {
		badRequestAPI(w, fmt.Sprintf("Invalid %s: use ISO 8601 (YYYY-MM-DDTHH:MM:SSZ)", name))
		return time.Time{}, false
	}
	return t, true
}

// commaList splits a comma-separated parameter, dropping empty items.
func commaList(v string) []string {
	var out []string
	for item := range strings.SplitSeq(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// deliveriesPage is GET /api/logs's answer.
type deliveriesPage struct {
	Data  []deliveryJSON `json:"data"`
	Total int64          `json:"total"`
}

// handleDeliveries serves GET /api/logs (seed 002): one page of
// deliveries the key may see, newest first.
func (s *Server) handleDeliveries(w http.ResponseWriter, r *http.Request) {
	q := newQueryParams(r)
	page, ok := apiInt(w, q, "page", 1, 1, deliveriesMaxPage)
	if !ok {
		return
	}
	limit, ok := apiInt(w, q, "limit", deliveriesDefaultLimit, 1, deliveriesMaxLimit)
	if !ok {
		return
	}
	filter, ok := s.deliveryFilter(w, r, q)
	if !ok {
		return
	}
	out := deliveriesPage{Data: []deliveryJSON{}}
	if filter != nil {
		res, err := s.store.Deliveries(r.Context(), aggregator.DeliveryQuery{
			Filter: *filter,
			Limit:  int(limit),
			Offset: toInt((page - 1) * limit),
		})
		if err != nil {
			s.storeErrorAPI(w, r, "deliveries", err)
			return
		}
		out.Total = res.Total
		for i := range res.Deliveries {
			out.Data = append(out.Data, newDeliveryJSON(&res.Deliveries[i], false))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// deliveryFilter reads the filters of GET /api/logs. A nil filter with
// ok=true means nothing can match (an endpoint the key may not see);
// ok=false means a 400 was answered.
func (s *Server) deliveryFilter(w http.ResponseWriter, r *http.Request, q *queryParams) (*aggregator.DeliveryFilter, bool) {
	f := &aggregator.DeliveryFilter{
		Repository: q.str("repository"),
		EventTypes: commaList(q.str("event_type")),
		Search:     q.str("search"),
	}
	for _, name := range commaList(q.str("status")) {
		st, known := statesFor[strings.ToLower(name)]
		if !known {
			badRequestAPI(w, fmt.Sprintf("Invalid status %q: use pending, forwarding, responded, timeout or error", name))
			return nil, false
		}
		if !slices.Contains(f.States, st) {
			f.States = append(f.States, st)
		}
	}
	if raw := q.str("has_errors"); raw != "" {
		v, err := strconv.ParseBool(raw)
		if err != nil {
			badRequestAPI(w, "Invalid has_errors: use true or false")
			return nil, false
		}
		f.HasErrors = &v
	}
	pr, ok := apiInt(w, q, "pr_number", 0, 1, 1<<62)
	if !ok {
		return nil, false
	}
	f.PRNumber = pr
	if f.Since, ok = apiTime(w, q, "since"); !ok {
		return nil, false
	}
	if f.Until, ok = apiTime(w, q, "until"); !ok {
		return nil, false
	}
	services, none := scopeOf(r)
	f.Services = services
	if raw := q.str("endpoint_id"); raw != "" {
		id, valid := parseUUID(raw)
		if !valid {
			badRequestAPI(w, "Invalid endpoint_id: must be a UUID")
			return nil, false
		}
		name, found, err := s.endpointByID(r, id)
		if err != nil {
			s.storeErrorAPI(w, r, "services", err)
			return nil, false
		}
		if !found {
			return nil, true
		}
		f.Services = []string{name}
	}
	if none {
		return nil, true
	}
	return f, true
}

// endpointByID finds the visible endpoint whose id is id.
func (s *Server) endpointByID(r *http.Request, id string) (string, bool, error) {
	names, err := s.visibleServices(r)
	if err != nil {
		return "", false, err
	}
	for _, n := range names {
		if EndpointID(n) == id {
			return n, true, nil
		}
	}
	return "", false, nil
}

// visibleServices lists the stored services the request's principal may see.
func (s *Server) visibleServices(r *http.Request) ([]string, error) {
	p, ok := PrincipalFrom(r)
	if !ok {
		return nil, nil
	}
	names, err := s.store.Services(r.Context())
	if err != nil {
		return nil, fmt.Errorf("list services: %w", err)
	}
	return slices.DeleteFunc(names, func(n string) bool { return !p.CanSee(n) }), nil
}

// handleDelivery serves GET /api/logs/{id}: one delivery with its
// attempts; 404 also for one the key may not see.
func (s *Server) handleDelivery(w http.ResponseWriter, r *http.Request) {
	id := mux.Vars(r)["id"]
	d, err := s.store.Delivery(r.Context(), id)
	if errors.Is(err, aggregator.ErrNotFound) || (err == nil && !visible(r, d.Service)) {
		writeJSON(w, http.StatusNotFound, apiError{Error: "Log not found"})
		return
	}
	if err != nil {
		s.storeErrorAPI(w, r, "delivery", err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Data deliveryJSON `json:"data"`
	}{newDeliveryJSON(d, true)})
}

// endpointJSON is one item of GET /api/endpoints.
type endpointJSON struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Slug string `json:"slug"`
}

// handleEndpoints serves GET /api/endpoints: the endpoints (sources) the
// key may see, by name.
func (s *Server) handleEndpoints(w http.ResponseWriter, r *http.Request) {
	names, err := s.visibleServices(r)
	if err != nil {
		s.storeErrorAPI(w, r, "services", err)
		return
	}
	out := make([]endpointJSON, 0, len(names))
	for _, n := range names {
		out = append(out, endpointJSON{ID: EndpointID(n), Name: n, Slug: EndpointSlug(n)})
	}
	writeJSON(w, http.StatusOK, struct {
		Data []endpointJSON `json:"data"`
	}{out})
}

// storeErrorAPI is storeError in the /api family's shape.
func (s *Server) storeErrorAPI(w http.ResponseWriter, r *http.Request, op string, err error) {
	s.logStoreError(r, op, err)
	writeJSON(w, http.StatusInternalServerError, apiError{Error: detailInternal})
}
