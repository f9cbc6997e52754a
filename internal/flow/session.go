package flow

import "github.com/sluicehq/sluice/window"

// collectSession adds an element to the key's sessions: its proto-window [ts, ts+gap) merges with
// every session it overlaps or touches. The merged session holds the merged accumulators and the
// earliest pending early timer; it keeps the pane count and trigger state of a merged session
// with the same bounds, and otherwise starts again at pane 0. A merged session that ends before
// the watermark is born late and fires LATE panes only.
func (o *WindowOp[K, In, Acc]) collectSession(ts int64, r Keyed[K, In]) {
	proto := window.Window{Start: ts, End: ts + o.Spec.Assigner.Gap()}
	slot, exists := o.keySlot(r.Key)
	merged := proto
	if exists {
		for _, ws := range o.slots[slot].wins {
			if ws.w.Intersects(proto) {
				merged = merged.Cover(ws.w)
			}
		}
	}
	if o.Spec.IsLate(merged, o.WM) {
		o.late(ts, r, merged)
		return
	}
	if !exists {
		slot = o.newKey(r.Key)
	} else if o.spill != nil {
		o.spill.Dirty(slot)
	}
	i := o.mergeInto(slot, proto, merged)
	o.add(slot, i, r.Value)
}

// mergeInto replaces the sessions intersecting proto by one session with bounds merged and
// returns its index.
func (o *WindowOp[K, In, Acc]) mergeInto(slot int32, proto, merged window.Window) int {
	kw := &o.slots[slot]
	var parts []winState[Acc]
	kept := kw.wins[:0]
	for _, ws := range kw.wins {
		if ws.w.Intersects(proto) {
			parts = append(parts, ws)
		} else {
			kept = append(kept, ws)
		}
	}
	kw.wins = kept
	target := winState[Acc]{w: merged, acc: o.Agg.CreateAccumulator()}
	same := -1
	for j, p := range parts {
		if p.w == merged {
			same = j
		}
	}
	if same >= 0 {
		target = parts[same]
	}
	for j, p := range parts {
		if j == same {
			continue
		}
		target.acc = o.Agg.Merge(target.acc, p.acc)
		target.hasNew = target.hasNew || p.hasNew
		target.count += p.count
		if p.earlyAt != 0 && (target.earlyAt == 0 || p.earlyAt < target.earlyAt) {
			target.earlyAt = p.earlyAt
		}
	}
	if same < 0 {
		o.registerTimers(kw.key, merged)
		if o.Spec.Count == 0 && merged.MaxTimestamp() <= o.WM {
			target.onTime = true
			target.earlyAt = 0
		}
	}
	kw.wins = append(kw.wins, target)
	return len(kw.wins) - 1
}
