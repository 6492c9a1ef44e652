package snapshot

// Rebase returns the values change that makes the shared block what colour `to` runs, once
// traffic moves to it, without changing what either colour runs: `to` keeps no pod-shaping
// keys of its own (but for map entries the other colour lacks), and `from` keeps only the keys
// in which its snapshot differs. So after any number of cutovers `helm get values` reads as
// "the shared block serves; the idle colour differs in these keys", and a plain `helm upgrade`
// of a shared key reaches the serving colour.
//
// all is the release's coalesced values, defaults the chart's. The change maps dotted paths to
// the value to write there, or to Unset to remove the user's key so the chart's default
// applies (a null would delete the default too). A colour's image tag, digest and own env stay
// where they are: they are per colour by nature.
func Rebase(all, defaults map[string]any, to, from, appVersion string) map[string]any {
	eTo, eFrom := Of(all, to, appVersion), Of(all, from, appVersion)
	change := map[string]any{}
	for _, k := range Replaced {
		change[to+"."+k] = Unset{}
		if equal(eTo[k], defaults[k]) {
			change[k] = Unset{}
		} else {
			change[k] = exact(eTo[k], defaults[k])
		}
		if equal(eFrom[k], eTo[k]) {
			change[from+"."+k] = Unset{}
		} else {
			change[from+"."+k] = eFrom[k]
		}
	}
	// The image's repository and pull policy move like a replaced key; the tag and digest are
	// each colour's own and stay.
	ownTo, ownFrom, defImage := mapAt(mapAt(all, to), "image"), mapAt(mapAt(all, from), "image"), mapAt(defaults, "image")
	shared := mapAt(all, "image")
	for _, k := range []string{"repository", "pullPolicy"} {
		vTo, vFrom := firstString(ownTo[k], shared[k]), firstString(ownFrom[k], shared[k])
		change[to+".image."+k] = Unset{}
		if vTo == firstString(defImage[k]) {
			change["image."+k] = Unset{}
		} else {
			change["image."+k] = vTo
		}
		if vFrom == vTo {
			change[from+".image."+k] = Unset{}
		} else {
			change[from+".image."+k] = vFrom
		}
	}
	for _, k := range Merged {
		mTo, mFrom, mDef := mapOf(eTo[k]), mapOf(eFrom[k]), mapOf(defaults[k])
		shared, ownTo, ownFrom := map[string]any{}, map[string]any{}, map[string]any{}
		for kk, v := range mTo {
			if _, both := mFrom[kk]; !both {
				ownTo[kk] = v // the other colour lacks it, and a colour cannot remove a shared entry
				continue
			}
			if !equal(v, mDef[kk]) {
				shared[kk] = v
			}
			if !equal(v, mFrom[kk]) {
				ownFrom[kk] = mFrom[kk]
			}
		}
		for kk, v := range mFrom {
			if _, both := mTo[kk]; !both {
				ownFrom[kk] = v
			}
		}
		for kk := range mDef {
			_, inTo := mTo[kk]
			_, inFrom := mFrom[kk]
			if !inTo || !inFrom {
				shared[kk] = nil // a default entry neither colour runs with
			}
		}
		change[k] = orUnset(shared)
		change[to+"."+k] = orUnset(ownTo)
		change[from+"."+k] = orUnset(ownFrom)
	}
	return change
}

// exact returns v in a form that, laid over defaults by Helm's coalescing, gives v back: every
// default map entry v lacks is written as null, which Helm deletes.
func exact(v, defaults any) any {
	vm, ok := v.(map[string]any)
	dm := mapOf(defaults)
	if !ok || len(dm) == 0 {
		return v
	}
	out := copyMap(vm)
	for k, d := range dm {
		if own, has := vm[k]; has {
			out[k] = exact(own, d)
		} else {
			out[k] = nil
		}
	}
	return out
}

// Unset, as a change's value, removes the user's key, so the chart's default applies.
type Unset struct{}

func orUnset(m map[string]any) any {
	if len(m) == 0 {
		return Unset{}
	}
	return m
}
