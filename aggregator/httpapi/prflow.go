package httpapi

import (
	"cmp"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/hooktail/hooktail/aggregator"
)

// prFlowMaxDeliveries bounds the deliveries one PR's flow reads.
const prFlowMaxDeliveries = 1000

// prFlowStage is one stage of a flow.
type prFlowStage struct {
	Name       string  `json:"name"`
	Timestamp  *string `json:"timestamp"`
	DurationMS *int64  `json:"duration_ms"`
	Error      *string `json:"error,omitempty"`
	// Status and HookID are hooktail's: the step's status, and for a
	// PR's flow the delivery each stage is.
	Status string `json:"status"`
	HookID string `json:"hook_id,omitempty"`
}

// prFlow is the pr-flow answer.
type prFlow struct {
	Identifier      string        `json:"identifier"`
	Stages          []prFlowStage `json:"stages"`
	TotalDurationMS *int64        `json:"total_duration_ms"`
	Success         *bool         `json:"success"`
	Error           *string       `json:"error,omitempty"`
}

// flowTarget is what a pr-flow identifier names.
type flowTarget struct {
	hookID string
	pr     int64
}

// parseFlowIdentifier reads hook-<id>, pr-<n>, a bare number (a PR) or a
// bare hook id; ok=false for a pr-<n> whose n is not a positive number.
func parseFlowIdentifier(id string) (flowTarget, bool) {
	switch {
	case strings.HasPrefix(id, "hook-"):
		return flowTarget{hookID: id[len("hook-"):]}, true
	case strings.HasPrefix(id, "pr-"):
		n, err := strconv.ParseInt(id[len("pr-"):], 10, 64)
		if err != nil || n <= 0 {
			return flowTarget{}, false
		}
		return flowTarget{pr: n}, true
	}
	if n, err := strconv.ParseInt(id, 10, 64); err == nil && n > 0 {
		return flowTarget{pr: n}, true
	}
	return flowTarget{hookID: id}, true
}

// handlePRFlow serves GET /logs/api/pr-flow/{identifier}: the stages of a
// delivery (its steps) or of a PR (its deliveries, oldest first).
func (s *Server) handlePRFlow(w http.ResponseWriter, r *http.Request) {
	id := mux.Vars(r)["identifier"]
	if errs := checkPathParam(nil, "hook_id", id); len(errs) > 0 {
		writeValidation(w, errs)
		return
	}
	target, ok := parseFlowIdentifier(id)
	if !ok {
		writeDetail(w, http.StatusBadRequest, "Invalid PR number in identifier: "+id)
		return
	}
	notFound := "No data found for hook_id: " + id
	if target.pr == 0 {
		if target.hookID == "" {
			writeDetail(w, http.StatusNotFound, notFound)
			return
		}
		d, err := s.store.Delivery(r.Context(), target.hookID)
		if errors.Is(err, aggregator.ErrNotFound) || (err == nil && !visible(r, d.Service)) {
			writeDetail(w, http.StatusNotFound, notFound)
			return
		}
		if err != nil {
			s.storeError(w, r, "delivery", err)
			return
		}
		writeJSON(w, http.StatusOK, deliveryFlow(id, d))
		return
	}
	services, none := scopeOf(r)
	if none {
		writeDetail(w, http.StatusNotFound, notFound)
		return
	}
	var ds []aggregator.Delivery
	for len(ds) < prFlowMaxDeliveries {
		page, err := s.store.Deliveries(r.Context(), aggregator.DeliveryQuery{
			Filter: aggregator.DeliveryFilter{Services: services, PRNumber: target.pr},
			Limit:  deliveriesMaxLimit,
			Offset: len(ds),
		})
		if err != nil {
			s.storeError(w, r, "deliveries", err)
			return
		}
		ds = append(ds, page.Deliveries...)
		if len(page.Deliveries) < deliveriesMaxLimit || int64(len(ds)) >= page.Total {
			break
		}
	}
	if len(ds) == 0 {
		writeDetail(w, http.StatusNotFound, notFound)
		return
	}
	writeJSON(w, http.StatusOK, pullRequestFlow(id, ds))
}

// deliveryFlow is the flow of one delivery: its steps, oldest first.
func deliveryFlow(id string, d *aggregator.Delivery) prFlow {
	start := deliveryStart(d)
	out := prFlow{
		Identifier:      id,
		Stages:          []prFlowStage{},
		TotalDurationMS: totalDuration(d, start),
		Success:         successOf(d.State),
		Error:           errorMessage(d.Error),
	}
	for _, st := range sortedSteps(d.Steps) {
		out.Stages = append(out.Stages, prFlowStage{
			Name:       st.Name,
			Timestamp:  isoOrNil(st.StartedAt),
			DurationMS: st.DurationMS,
			Error:      errorMessage(st.Error),
			Status:     st.Status,
		})
	}
	return out
}

// pullRequestFlow is the flow of a PR: one stage per delivery, oldest
// first. It succeeded when every finished delivery did and none is still
// running; it failed when any failed.
func pullRequestFlow(id string, ds []aggregator.Delivery) prFlow {
	slices.SortStableFunc(ds, func(a, b aggregator.Delivery) int {
		return cmp.Or(deliveryStart(&a).Compare(deliveryStart(&b)), cmp.Compare(a.HookID, b.HookID))
	})
	out := prFlow{Identifier: id, Stages: []prFlowStage{}}
	var first, last time.Time
	success := true
	running := false
	for i := range ds {
		d := &ds[i]
		start := deliveryStart(d)
		name := d.EventType
		if d.Action != "" {
			name += "." + d.Action
		}
		if name == "" {
			name = "delivery"
		}
		stage := prFlowStage{
			Name:       name,
			Timestamp:  isoOrNil(start),
			DurationMS: totalDuration(d, start),
			Error:      errorMessage(d.Error),
			Status:     statusOf(d.State),
			HookID:     d.HookID,
		}
		switch d.State {
		case aggregator.StateFailed, aggregator.StateTimeout:
			success = false
			if out.Error == nil {
				out.Error = stage.Error
				if out.Error == nil {
					msg := "delivery " + d.HookID + " " + string(d.State)
					out.Error = &msg
				}
			}
		case aggregator.StatePending, aggregator.StateProcessing:
			running = true
		}
		out.Stages = append(out.Stages, stage)
		if !start.IsZero() && (first.IsZero() || start.Before(first)) {
			first = start
		}
		end := laterOf(d.CompletedAt, d.LastEntryAt)
		if d.DurationMS != nil && !start.IsZero() {
			end = laterOf(end, start.Add(time.Duration(*d.DurationMS)*time.Millisecond))
		}
		last = laterOf(last, end)
	}
	if !first.IsZero() && !last.IsZero() && !last.Before(first) {
		ms := last.Sub(first).Milliseconds()
		out.TotalDurationMS = &ms
	}
	if !success || !running {
		out.Success = &success
	}
	return out
}

// errorMessage is an error's message (else its type), nil without one.
func errorMessage(e *aggregator.ErrorInfo) *string {
	if e == nil {
		return nil
	}
	return strOrNil(cmp.Or(e.Message, e.Type))
}
