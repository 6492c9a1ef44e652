package cluster

import (
	"context"
	"testing"
)

// TestPickImage: an explicit image wins, then KIND_NODE_IMAGE, then KIND_OFFLINE=0 picks kind's
// stock image; none of these builds the offline image (a nil builder would panic if asked).
func TestPickImage(t *testing.T) {
	for _, tc := range []struct {
		name, option, envImage, envOffline string
		want                               string
	}{
		{name: "option", option: "example/node:v1", envImage: "env/node:v2", envOffline: "0", want: "example/node:v1"},
		{name: "KIND_NODE_IMAGE", envImage: "env/node:v2", envOffline: "0", want: "env/node:v2"},
		{name: "KIND_OFFLINE=0", envOffline: "0", want: stockImage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("KIND_NODE_IMAGE", tc.envImage)
			t.Setenv("KIND_OFFLINE", tc.envOffline)
			got, offline, err := pickImage(context.Background(), Options{NodeImage: tc.option}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want || offline {
				t.Errorf("pickImage = %q, offline %v; want %q, offline false", got, offline, tc.want)
			}
		})
	}
}
