package cli

import (
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/restmapper"
)

// memoryDiscovery gives Helm's client one discovery client and REST mapper for the run, cached
// in memory over helm's disk cache. Helm builds the objects of both manifests on every upgrade,
// and its disk-cached discovery client reads and decodes the cached API resource lists from
// disk on every lookup: the largest cost of a switch's upgrade before the Service moved
// (BenchmarkSwitch's CPU profile in internal/bluegreen/realapi). A mapping the cache lacks (a
// CRD installed during the run) still resets it, as the deferred mapper does.
type memoryDiscovery struct {
	genericclioptions.RESTClientGetter

	once   sync.Once
	client discovery.CachedDiscoveryInterface
	mapper meta.RESTMapper
	err    error
}

func newMemoryDiscovery(g genericclioptions.RESTClientGetter) *memoryDiscovery {
	return &memoryDiscovery{RESTClientGetter: g}
}

func (m *memoryDiscovery) init() {
	m.once.Do(func() {
		disk, err := m.RESTClientGetter.ToDiscoveryClient()
		if err != nil {
			m.err = err
			return
		}
		m.client = memory.NewMemCacheClient(disk)
		m.mapper = restmapper.NewShortcutExpander(restmapper.NewDeferredDiscoveryRESTMapper(m.client), m.client, nil)
	})
}

// ToDiscoveryClient returns the run's in-memory cached discovery client.
func (m *memoryDiscovery) ToDiscoveryClient() (discovery.CachedDiscoveryInterface, error) {
	m.init()
	return m.client, m.err
}

// ToRESTMapper returns the run's REST mapper over that client.
func (m *memoryDiscovery) ToRESTMapper() (meta.RESTMapper, error) {
	m.init()
	return m.mapper, m.err
}
