package server

import "google.golang.org/protobuf/encoding/protowire"

// nameOf reads field 1 (name) of a serialized Cluster or Listener without decoding the rest: the
// benchmark's clients must stay light so the pilot, not they, is what gets measured.
func nameOf(b []byte, _ string) string {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return ""
		}
		b = b[n:]
		if num == 1 && typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return ""
			}
			return string(v)
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return ""
		}
		b = b[n:]
	}
	return ""
}
