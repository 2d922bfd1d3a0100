// Package chartcheck holds the offline checks of the ns Helm chart
// (deploy/k8s/ns) and of the plain manifests rendered from it
// (deploy/k8s/manifests/ns.yaml). It is a module of its own so that the main
// module's go.mod stays free of k8s.io dependencies; `make helm-check` runs it:
//
//	cd deploy/k8s/chartcheck && HELM=../../../bin/helm go test ./...
//
// The tests render the chart with `helm template` for a table of value sets
// and decode every document strictly into k8s.io/api types (unknown fields,
// duplicate keys and wrong case fail, as in the API server's strict field
// validation), then check what the chart promises: selectors match the pod
// labels, serviceName names a headless Service that publishes not-ready pods
// with the gossip port over TCP and UDP, probes and flags point at the
// configured ports, the security context is locked down, every flag passed
// is one nsnode knows, and with persistence each pod's --data-dir is the
// mount of its own volumeClaimTemplate, writable by the non-root user. `go test -run TestManifests -update` (what
// `make k8s-manifests` runs) rewrites the plain manifests.
package chartcheck
