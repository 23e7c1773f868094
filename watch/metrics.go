package watch

import (
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the watch's Prometheus series. Label sets are bounded:
// finding codes are a closed set, lvstores are the few of one node, and
// event types, error kinds and results are fixed lists.
type Metrics struct {
	reg *prometheus.Registry

	Findings        *prometheus.GaugeVec   // code, lvstore
	LastFull        prometheus.Gauge       // unix seconds of the last completed full check
	LastFullSeconds prometheus.Gauge       // its duration
	FullChecks      *prometheus.CounterVec // result: ok, failed
	Events          *prometheus.CounterVec // type: bdev_register, bdev_unregister, other
	Missed          prometheus.Counter     // events the ring dropped before they were read
	Restarts        prometheus.Counter     // target incarnation changes seen
	Errors          *prometheus.CounterVec // kind: rpc, device, journal, check
	TargetUp        prometheus.Gauge
	JournalBytes    prometheus.Gauge
	ProbeBytes      prometheus.Counter
	ProbeSeconds    prometheus.Histogram // unregister event read → verdict

	// tick is the unix nanoseconds of the loop's last turn, for /healthz.
	tick atomic.Int64
}

// Error kinds (the label values of Errors).
const (
	ErrKindRPC     = "rpc"
	ErrKindDevice  = "device"
	ErrKindJournal = "journal"
	ErrKindCheck   = "check"
)

// NewMetrics registers the watch's series on a registry of their own (plus
// the Go and process collectors).
func NewMetrics() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	f := func(c prometheus.Collector) { m.reg.MustRegister(c) }
	m.Findings = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "lvfsck_watch_findings", Help: "Open findings by code, lvstore and severity (last full check plus event findings since); severity=\"critical\": the target crashes on or refuses the lvstore at its next load."}, []string{"code", "lvstore", "severity"})
	m.LastFull = prometheus.NewGauge(prometheus.GaugeOpts{Name: "lvfsck_watch_last_full_check_timestamp_seconds", Help: "End of the last completed full check."})
	m.LastFullSeconds = prometheus.NewGauge(prometheus.GaugeOpts{Name: "lvfsck_watch_last_full_check_duration_seconds", Help: "Duration of the last full check."})
	m.FullChecks = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lvfsck_watch_full_checks_total", Help: "Full checks run, by result."}, []string{"result"})
	m.Events = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lvfsck_watch_events_total", Help: "Notify events read, by type."}, []string{"type"})
	m.Missed = prometheus.NewCounter(prometheus.CounterOpts{Name: "lvfsck_watch_events_missed_total", Help: "Notify events lost before they were read (ring wrapped, or the target restarted between polls)."})
	m.Restarts = prometheus.NewCounter(prometheus.CounterOpts{Name: "lvfsck_watch_target_restarts_total", Help: "Target incarnation changes seen."})
	m.Errors = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lvfsck_watch_errors_total", Help: "Watch errors by kind."}, []string{"kind"})
	m.TargetUp = prometheus.NewGauge(prometheus.GaugeOpts{Name: "lvfsck_watch_target_up", Help: "1 when the target answers on its socket."})
	m.JournalBytes = prometheus.NewGauge(prometheus.GaugeOpts{Name: "lvfsck_watch_journal_bytes", Help: "Size of the journal on disk (LSM + value log)."})
	m.ProbeBytes = prometheus.NewCounter(prometheus.CounterOpts{Name: "lvfsck_watch_probe_bytes_total", Help: "Bytes read from devices to judge unregister events."})
	m.ProbeSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "lvfsck_watch_probe_seconds", Help: "Unregister event read to verdict.", Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5}})
	for _, c := range []prometheus.Collector{m.Findings, m.LastFull, m.LastFullSeconds, m.FullChecks, m.Events, m.Missed, m.Restarts, m.Errors, m.TargetUp, m.JournalBytes, m.ProbeBytes, m.ProbeSeconds,
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{})} {
		f(c)
	}
	for _, k := range []string{ErrKindRPC, ErrKindDevice, ErrKindJournal, ErrKindCheck} {
		m.Errors.WithLabelValues(k) // present at 0 so rate() works from the start
	}
	m.Missed.Add(0)
	return m
}

// Handler serves /metrics and /healthz. /healthz fails when the loop has
// not turned for stale: the watch itself is stuck (a target that is down
// is reported by lvfsck_watch_target_up, not by the health check).
func (m *Metrics) Handler(stale time.Duration) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		last := time.Unix(0, m.tick.Load())
		if m.tick.Load() == 0 || time.Since(last) > stale {
			http.Error(w, "watch loop stalled", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	return mux
}

func (m *Metrics) ticked(at time.Time) { m.tick.Store(at.UnixNano()) }
