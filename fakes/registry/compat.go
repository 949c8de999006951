package registry

import (
	"fmt"
	"net/http"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/sr"
)

const levelNames = "NONE, BACKWARD, BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL, FULL_TRANSITIVE"

// maxReferenceDepth bounds how deep schema references are followed.
const maxReferenceDepth = 32

// level is a compatibility level with its two properties spelled out.
type level sr.CompatibilityLevel

// backward: the new schema must read data written with the old one.
func (l level) backward() bool {
	switch sr.CompatibilityLevel(l) {
	case sr.CompatBackward, sr.CompatBackwardTransitive, sr.CompatFull, sr.CompatFullTransitive:
		return true
	}
	return false
}

// forward: the old schema must read data written with the new one.
func (l level) forward() bool {
	switch sr.CompatibilityLevel(l) {
	case sr.CompatForward, sr.CompatForwardTransitive, sr.CompatFull, sr.CompatFullTransitive:
		return true
	}
	return false
}

// transitive: against every live version, not only the latest.
func (l level) transitive() bool {
	switch sr.CompatibilityLevel(l) {
	case sr.CompatBackwardTransitive, sr.CompatForwardTransitive, sr.CompatFullTransitive:
		return true
	}
	return false
}

// parse parses an Avro schema and the schemas it references, each parse in
// a fresh cache: hamba's default cache is global, so a record parsed for
// one subject would otherwise shadow a same-named record of another
// subject, or of an older version of this one.
func (h *handler) parse(s sr.Schema) (avro.Schema, *apiError) {
	cache := &avro.SchemaCache{}
	parsed, err := h.parseInto(s, cache, 0)
	if err != nil {
		return nil, &apiError{http.StatusUnprocessableEntity, sr.ErrInvalidSchema.Code, fmt.Sprintf("invalid Avro schema: %v", err)}
	}
	return parsed, nil
}

func (h *handler) parseInto(s sr.Schema, cache *avro.SchemaCache, depth int) (parsed avro.Schema, err error) {
	if depth > maxReferenceDepth {
		return nil, fmt.Errorf("references nested deeper than %d", maxReferenceDepth)
	}
	for _, ref := range s.References {
		rs, ok := h.fake.GetSchema(ref.Subject, ref.Version)
		if !ok {
			return nil, fmt.Errorf("reference %q: subject %q version %d not found", ref.Name, ref.Subject, ref.Version)
		}
		if rs.Type != sr.TypeAvro {
			return nil, fmt.Errorf("reference %q: subject %q version %d is %s, not Avro", ref.Name, ref.Subject, ref.Version, rs.Type)
		}
		if _, err := h.parseInto(rs.Schema, cache, depth+1); err != nil {
			return nil, fmt.Errorf("reference %q: %w", ref.Name, err)
		}
	}
	// A panic in the parser must not take the registry down: the schema
	// is rejected as invalid instead.
	defer func() {
		if p := recover(); p != nil {
			parsed, err = nil, fmt.Errorf("avro parser failed: %v", p)
		}
	}()
	return avro.ParseWithCache(s.Schema, "", cache)
}

// check returns one message per incompatibility of candidate with the
// given versions under level l; none means compatible.
func (h *handler) check(l level, candidate avro.Schema, versions []sr.SubjectSchema) []string {
	var problems []string
	for _, v := range versions {
		old, aerr := h.parse(v.Schema)
		if aerr != nil {
			problems = append(problems, fmt.Sprintf("version %d: stored schema does not parse: %s", v.Version, aerr.msg))
			continue
		}
		if l.backward() {
			if err := compatible(candidate, old); err != nil {
				problems = append(problems, fmt.Sprintf("version %d: BACKWARD: the new schema cannot read data written with version %d: %v", v.Version, v.Version, err))
			}
		}
		if l.forward() {
			if err := compatible(old, candidate); err != nil {
				problems = append(problems, fmt.Sprintf("version %d: FORWARD: version %d cannot read data written with the new schema: %v", v.Version, v.Version, err))
			}
		}
	}
	return problems
}

// compatible reports whether reader can read data written with writer.
//
// A fresh SchemaCompatibility per check, on purpose: hamba caches verdicts
// by the two schemas' fingerprints, which are taken over the Parsing
// Canonical Form, and that form drops defaults and aliases. A long-lived
// checker would answer "adds a field without default" with the cached
// verdict of "adds the same field with a default".
func compatible(reader, writer avro.Schema) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("avro compatibility check failed: %v", p)
		}
	}()
	return avro.NewSchemaCompatibility().Compatible(reader, writer)
}
