package workload

import (
	"fmt"
	"math/rand"
)

// HeaderMix sets the rates (each in [0,1], summing to at most 1) at which the
// wm-site-id header is absent, present with a null value, or malformed. The
// remaining records carry a valid site id.
type HeaderMix struct {
	Absent    float64
	Null      float64
	Malformed float64
}

// SiteState is what a record's wm-site-id header looks like.
type SiteState uint8

const (
	SiteValid SiteState = iota
	SiteAbsent
	SiteNull
	SiteMalformed
)

func (s SiteState) String() string {
	return [...]string{"valid", "absent", "null", "malformed"}[s]
}

// ValidSites are the site ids the workload uses; US is the most common.
var ValidSites = []string{"US", "US", "US", "CA", "MX", "GB"}

// malformedSites are values a careless router cannot parse.
var malformedSites = []string{"", "  ", "u$", "\xff\xfe", "US-EAST-1-but-longer-than-any-site-id"}

func (m HeaderMix) validate() error {
	for _, v := range []float64{m.Absent, m.Null, m.Malformed} {
		if v < 0 || v > 1 {
			return fmt.Errorf("header rates must be in [0,1], got %+v", m)
		}
	}
	if m.Absent+m.Null+m.Malformed > 1 {
		return fmt.Errorf("header rates sum to more than 1: %+v", m)
	}
	return nil
}

func (m HeaderMix) draw(r *rand.Rand) (SiteState, string) {
	x := r.Float64()
	switch {
	case x < m.Absent:
		return SiteAbsent, ""
	case x < m.Absent+m.Null:
		return SiteNull, ""
	case x < m.Absent+m.Null+m.Malformed:
		return SiteMalformed, malformedSites[r.Intn(len(malformedSites))]
	}
	return SiteValid, ValidSites[r.Intn(len(ValidSites))]
}
