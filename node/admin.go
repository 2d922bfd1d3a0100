package node

import (
	"fmt"
	"net/http"
	"net/http/pprof"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// adminHandler serves the admin HTTP port:
//
//	/             the status page (node/ui), polling /api/status every second
//	/api/status   the page's data as JSON (statusJSON)
//	/api/hotkeys  the node's hot keys as JSON (?limit=n)
//	/metrics      Prometheus, from the node's private registry
//	/healthz      200 while the process serves HTTP (liveness)
//	/readyz       200 once Ready, 503 with the reason otherwise (readiness)
//	/debug/pprof  the Go profiler, unless Config.DisablePprof
func (n *Node) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ok, why := n.Ready()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		fmt.Fprintln(w, why)
	})
	reg := n.obs().reg
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /{$}", n.serveStatusPage)
	mux.HandleFunc("GET /api/status", n.serveStatus)
	mux.HandleFunc("GET /api/hotkeys", n.serveHotKeys)
	if !n.cfg.DisablePprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}
