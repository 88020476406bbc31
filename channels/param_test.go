package channels

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParamSource(t *testing.T) {
	t.Parallel()
	m := &Message{Body: "Your code is 123456", Subject: "Sign in", Metadata: map[string]string{"code": "123456", "empty": ""}}
	tests := []struct {
		in, text, err string
	}{
		{in: "body", text: "Your code is 123456"},
		{in: "subject", text: "Sign in"},
		{in: "metadata.code", text: "123456"},
		{in: "metadata.missing", err: `the message has no metadata key "missing"`},
		{in: "metadata.empty", err: "metadata.empty is empty"},
		{in: "metadata.", err: `must be "body", "subject" or "metadata.KEY", got "metadata."`},
		{in: "Body", err: `must be "body", "subject" or "metadata.KEY", got "Body"`},
		{in: "", err: `must be "body", "subject" or "metadata.KEY", got ""`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			s, err := ParseParamSource(tt.in)
			if err == nil {
				require.Equal(t, tt.in, s.String(), "prints as written")
				var text string
				text, err = s.Text(m)
				if err == nil {
					require.Equal(t, tt.text, text)
					require.Empty(t, tt.err)
					return
				}
			}
			require.EqualError(t, err, tt.err)
		})
	}
}
