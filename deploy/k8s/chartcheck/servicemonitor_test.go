package chartcheck

import (
	"encoding/json"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// serviceMonitorGVK is prometheus-operator's ServiceMonitor, a CRD that
// k8s.io/api does not carry.
var serviceMonitorGVK = schema.GroupVersionKind{Group: "monitoring.coreos.com", Version: "v1", Kind: "ServiceMonitor"}

// ServiceMonitor is the subset of monitoring.coreos.com/v1 ServiceMonitor
// (prometheus-operator's API, field names and types as there) that the chart
// may emit; decoding strictly into it rejects any field the chart should not
// write or misspells.
type ServiceMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              ServiceMonitorSpec `json:"spec"`
}

// ServiceMonitorSpec is a subset of the CRD's spec.
type ServiceMonitorSpec struct {
	JobLabel          string               `json:"jobLabel,omitempty"`
	Selector          metav1.LabelSelector `json:"selector"`
	NamespaceSelector NamespaceSelector    `json:"namespaceSelector,omitempty"`
	Endpoints         []Endpoint           `json:"endpoints"`
}

// NamespaceSelector is the CRD's namespaceSelector.
type NamespaceSelector struct {
	Any        bool     `json:"any,omitempty"`
	MatchNames []string `json:"matchNames,omitempty"`
}

// Endpoint is a subset of the CRD's endpoint.
type Endpoint struct {
	Port          string `json:"port,omitempty"`
	Path          string `json:"path,omitempty"`
	Scheme        string `json:"scheme,omitempty"`
	Interval      string `json:"interval,omitempty"`
	ScrapeTimeout string `json:"scrapeTimeout,omitempty"`
}

// DeepCopyObject implements runtime.Object (by a JSON round trip: only
// tests use it).
func (s *ServiceMonitor) DeepCopyObject() runtime.Object {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	out := new(ServiceMonitor)
	if err := json.Unmarshal(b, out); err != nil {
		panic(err)
	}
	return out
}
