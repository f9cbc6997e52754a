package kafka

import (
	"bytes"
	"testing"

	"github.com/sluicehq/sluice/internal/flow"
)

func sampleState() *taskState {
	return &taskState{NextOffset: 1234, ChangelogOffset: 77, MaxTS: 1767225600000, WM: flow.MinTime,
		Snaps: []flow.TaskSnapshot{
			{ID: 9, Stage: "source-0", Subtask: 0, States: nil},
			{ID: 9, Stage: "keyby-1", Subtask: 3, Position: []byte{1, 2},
				States: []flow.OperatorSnapshot{{UID: "counts", Data: []byte("abc")}, {UID: "order", Data: []byte{}}}},
		}}
}

func TestStateRoundTrip(t *testing.T) {
	want := sampleState()
	got, err := decodeState(want.encode(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.encode(nil), want.encode(nil)) || got.NextOffset != 1234 || got.WM != flow.MinTime ||
		len(got.Snaps) != 2 || got.Snaps[1].Stage != "keyby-1" || string(got.Snaps[1].States[0].Data) != "abc" {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, want)
	}
}

func TestStateRejectsDamage(t *testing.T) {
	b := sampleState().encode(nil)
	for _, c := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"truncated", b[:len(b)-5]},
		{"bad magic", append([]byte("XXXX"), b[4:]...)},
		{"flipped bit", func() []byte { c := bytes.Clone(b); c[12] ^= 1; return c }()},
	} {
		if _, err := decodeState(c.b); err == nil {
			t.Errorf("%s: decoded without error", c.name)
		}
	}
}

func FuzzDecodeState(f *testing.F) {
	f.Add(sampleState().encode(nil))
	f.Add([]byte(stateMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := decodeState(b)
		if err != nil {
			return
		}
		again, err := decodeState(st.encode(nil))
		if err != nil {
			t.Fatalf("re-encoding a decoded state: %v", err)
		}
		if again.NextOffset != st.NextOffset || len(again.Snaps) != len(st.Snaps) {
			t.Fatalf("re-encoded state differs")
		}
	})
}
