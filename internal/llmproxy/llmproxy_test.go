package llmproxy

import (
	"encoding/json"
	"testing"
)

func TestWithDefaults(t *testing.T) {
	t.Parallel()
	p := &Proxy{DefaultModel: "deepseek-chat", MaxTokens: 4096}
	tests := []struct {
		name, in      string
		wantModel     string
		wantMaxTokens float64
		wantErr       bool
	}{
		{"fills both", `{"messages":[]}`, "deepseek-chat", 4096, false},
		{"keeps the client's", `{"model":"gpt-4o","max_tokens":10,"messages":[]}`, "gpt-4o", 10, false},
		{"empty model replaced", `{"model":"","messages":[]}`, "deepseek-chat", 4096, false},
		{"no messages", `{"model":"m"}`, "", 0, true},
		{"not an object", `[1,2]`, "", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := p.withDefaults([]byte(tc.in))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			var got map[string]any
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatal(err)
			}
			if got["model"] != tc.wantModel || got["max_tokens"] != tc.wantMaxTokens {
				t.Errorf("got %v", got)
			}
			if _, ok := got["messages"]; !ok {
				t.Errorf("messages dropped: %v", got)
			}
		})
	}
}
