package podnet

import (
	"fmt"

	"github.com/vishvananda/netlink"
)

// NetlinkRoutes changes the host's main routing table.
type NetlinkRoutes struct{}

// Replace adds or updates the route.
func (NetlinkRoutes) Replace(r Route) error {
	if err := netlink.RouteReplace(&netlink.Route{Dst: r.Dst, Gw: r.Gateway}); err != nil {
		return fmt.Errorf("netlink route replace %s: %w", r, err)
	}
	return nil
}

// Delete removes the route.
func (NetlinkRoutes) Delete(r Route) error {
	if err := netlink.RouteDel(&netlink.Route{Dst: r.Dst, Gw: r.Gateway}); err != nil {
		return fmt.Errorf("netlink route del %s: %w", r, err)
	}
	return nil
}
