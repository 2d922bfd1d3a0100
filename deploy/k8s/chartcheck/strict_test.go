package chartcheck

import (
	"strings"
	"testing"
)

// TestStrictDecoder: the decoder the chart checks rely on refuses what the
// API server's strict field validation refuses.
func TestStrictDecoder(t *testing.T) {
	const ok = "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\nspec:\n  clusterIP: None\n"
	tests := []struct{ name, doc, wantErr string }{
		{"valid", ok, ""},
		{"unknown field", ok + "  publishNotReady: true\n", "unknown field"},
		{"wrong case", ok + "  PublishNotReadyAddresses: true\n", "unknown field"},
		{"duplicate key", ok + "  clusterIP: 10.0.0.1\n", "already set"},
		{"wrong type", "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: a\nspec:\n  replicas: three\n", "replicas"},
		{"unknown kind", "apiVersion: v1\nkind: Servic\nmetadata:\n  name: a\n", "no kind"},
		{"unknown volumeClaimTemplate field", "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: a\nspec:\n  volumeClaimTemplates:\n    - metadata: {name: data}\n      spec: {storageClass: fast}\n", "unknown field"},
		{"unknown ServiceMonitor field", "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata:\n  name: a\nspec:\n  selector: {}\n  endpoints: [{port: admin, intervall: 5s}]\n", "unknown field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := decoder().Decode([]byte(tt.doc), nil, nil)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("decode: %v", err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("decoded; want an error mentioning %q", tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Fatalf("error %v; want it to mention %q", err, tt.wantErr)
			}
		})
	}
}
