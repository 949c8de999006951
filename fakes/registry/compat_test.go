package registry_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hamba/avro/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/sr"
)

// user builds a record schema with an id field and the given extra fields.
func user(fields ...string) string {
	all := append([]string{`{"name":"id","type":"long"}`}, fields...)
	return `{"type":"record","name":"User","namespace":"pipechaos.test","fields":[` + strings.Join(all, ",") + `]}`
}

// evolution is one schema change and the verdicts the Avro resolution
// rules give for it. BACKWARD: the new schema, as the reader, resolves
// data written with the old one. FORWARD: the old schema, as the reader,
// resolves data written with the new one. FULL: both. NONE accepts all.
type evolution struct {
	name                    string
	old, new                string
	backward, forward, full bool
}

var evolutions = []evolution{
	{
		// Reader new: the missing field takes its default. Reader old:
		// the writer's extra field is skipped.
		name:     "add optional field with default",
		old:      user(),
		new:      user(`{"name":"email","type":["null","string"],"default":null}`),
		backward: true, forward: true, full: true,
	},
	{
		// Reader new needs "email", the old data has none and there is no
		// default: not BACKWARD. The old reader skips it: FORWARD.
		name:     "add required field",
		old:      user(),
		new:      user(`{"name":"email","type":"string"}`),
		backward: false, forward: true, full: false,
	},
	{
		// Reader new skips the old field; reader old fills it from its
		// default.
		name:     "remove field with default",
		old:      user(`{"name":"email","type":"string","default":""}`),
		new:      user(),
		backward: true, forward: true, full: true,
	},
	{
		// Reader new skips the field; reader old needs it and has no
		// default.
		name:     "remove field without default",
		old:      user(`{"name":"email","type":"string"}`),
		new:      user(),
		backward: true, forward: false, full: false,
	},
	{
		// Aliases are the reader's: the new reader maps "name" to
		// "fullName"; the old reader has no alias for "fullName" and no
		// default for "name".
		name:     "rename with alias",
		old:      user(`{"name":"name","type":"string"}`),
		new:      user(`{"name":"fullName","type":"string","aliases":["name"]}`),
		backward: true, forward: false, full: false,
	},
	{
		// string and int do not resolve in either direction (only
		// string<->bytes and the numeric widenings do).
		name:     "change string to int",
		old:      user(`{"name":"age","type":"string"}`),
		new:      user(`{"name":"age","type":"int"}`),
		backward: false, forward: false, full: false,
	},
	{
		// int is promoted to long when read, never the other way round.
		name:     "int to long promotion",
		old:      user(`{"name":"n","type":"int"}`),
		new:      user(`{"name":"n","type":"long"}`),
		backward: true, forward: false, full: false,
	},
	{
		// The new reader knows every old symbol; the old reader does not
		// know "C" and has no enum default to fall back on.
		name:     "enum symbol added",
		old:      user(`{"name":"status","type":{"type":"enum","name":"Status","symbols":["A","B"]}}`),
		new:      user(`{"name":"status","type":{"type":"enum","name":"Status","symbols":["A","B","C"]}}`),
		backward: true, forward: false, full: false,
	},
	{
		// Avro 1.9+: a reader enum with a default reads unknown symbols as
		// the default, so the old reader copes with "C". hamba implements
		// this (EnumSchema.HasDefault); Confluent's checker agrees.
		name:     "enum symbol added, enum has default",
		old:      user(`{"name":"status","type":{"type":"enum","name":"Status","symbols":["A","B"],"default":"A"}}`),
		new:      user(`{"name":"status","type":{"type":"enum","name":"Status","symbols":["A","B","C"],"default":"A"}}`),
		backward: true, forward: true, full: true,
	},
	{
		// The new reader does not know "C", which old data may hold.
		name:     "enum symbol removed",
		old:      user(`{"name":"status","type":{"type":"enum","name":"Status","symbols":["A","B","C"]}}`),
		new:      user(`{"name":"status","type":{"type":"enum","name":"Status","symbols":["A","B"]}}`),
		backward: false, forward: true, full: false,
	},
	{
		// Every old branch is in the new union; the old union has no
		// branch for int (int does not resolve to string). Schema-level
		// checks require every writer branch to resolve, although at read
		// time only the branch actually written matters.
		name:     "union widened",
		old:      user(`{"name":"v","type":["null","string"],"default":null}`),
		new:      user(`{"name":"v","type":["null","string","int"],"default":null}`),
		backward: true, forward: false, full: false,
	},
	{
		// The spec matches records by unqualified name (so does Avro's
		// Java checker, which Confluent uses); hamba agrees.
		name:     "record namespace changed",
		old:      user(),
		new:      strings.Replace(user(), `"pipechaos.test"`, `"pipechaos.moved"`, 1),
		backward: true, forward: true, full: true,
	},
	{
		// A reader record alias names the writer's full name.
		name:     "record renamed with alias",
		old:      user(),
		new:      strings.Replace(user(), `"name":"User"`, `"name":"Person","aliases":["pipechaos.test.User"]`, 1),
		backward: true, forward: false, full: false,
	},
	{
		name:     "union narrowed",
		old:      user(`{"name":"v","type":["null","string","int"],"default":null}`),
		new:      user(`{"name":"v","type":["null","string"],"default":null}`),
		backward: false, forward: true, full: false,
	},
}

// TestSchemaDriftVerdictsPerLevel registers each evolution's old schema,
// asks the registry whether the new one is compatible, then registers it:
// both answers must be the Avro verdict for the subject's level
// (docs/incidents.md §7: additive changes accepted, incompatible ones rejected
// at registration).
func TestSchemaDriftVerdictsPerLevel(t *testing.T) {
	_, cl := start(t)
	ctx := sr.WithParams(t.Context(), sr.Verbose)
	for i, ev := range evolutions {
		for _, lv := range []struct {
			level sr.CompatibilityLevel
			want  bool
		}{
			{sr.CompatNone, true},
			{sr.CompatBackward, ev.backward},
			{sr.CompatForward, ev.forward},
			{sr.CompatFull, ev.full},
		} {
			t.Run(ev.name+"/"+lv.level.String(), func(t *testing.T) {
				subject := fmt.Sprintf("drift-%d-%s", i, lv.level)
				for _, res := range cl.SetCompatibility(ctx, sr.SetCompatibility{Level: lv.level}, subject) {
					require.NoError(t, res.Err)
				}
				v1, err := cl.CreateSchema(ctx, subject, avroSchema(ev.old))
				require.NoError(t, err)

				check, err := cl.CheckCompatibility(ctx, subject, -1, avroSchema(ev.new))
				require.NoError(t, err)
				assert.Equal(t, lv.want, check.Is, "is_compatible; messages %q", check.Messages)
				if lv.want {
					assert.Empty(t, check.Messages)
				} else {
					require.NotEmpty(t, check.Messages)
				}

				v2, err := cl.CreateSchema(ctx, subject, avroSchema(ev.new))
				if lv.want {
					require.NoError(t, err)
					assert.Equal(t, 2, v2.Version)
					assert.NotEqual(t, v1.ID, v2.ID)
					return
				}
				re := responseError(t, err, 409, 409)
				assert.Contains(t, re.Message, "incompatible")
				assert.Contains(t, re.Message, "version 1")
				versions, err := cl.SubjectVersions(ctx, subject)
				require.NoError(t, err)
				assert.Equal(t, []int{1}, versions, "a rejected schema is not registered")
			})
		}
	}
}

// TestTransitiveLevelsAcrossThreeVersions: v3 is compatible with v2 (the
// latest) but not with v1, so the plain level accepts it and the
// transitive level rejects it.
func TestTransitiveLevelsAcrossThreeVersions(t *testing.T) {
	// Chain A, a BACKWARD trap: a field arrives with a default, then loses
	// the default. v3 reads v2 data, but not v1 data, which lacks "email".
	chainA := []string{
		user(),
		user(`{"name":"email","type":"string","default":""}`),
		user(`{"name":"email","type":"string"}`),
	}
	// Chain B, a FORWARD trap: a required field gets a default, then is
	// removed. v2 reads v3 data (default), but v1 cannot (no default).
	chainB := []string{
		user(`{"name":"email","type":"string"}`),
		user(`{"name":"email","type":"string","default":""}`),
		user(),
	}
	tests := []struct {
		level  sr.CompatibilityLevel
		chain  []string
		wantV3 bool
	}{
		{sr.CompatBackward, chainA, true},
		{sr.CompatBackwardTransitive, chainA, false},
		{sr.CompatForward, chainB, true},
		{sr.CompatForwardTransitive, chainB, false},
		{sr.CompatFull, chainB, true},
		{sr.CompatFullTransitive, chainB, false},
	}
	_, cl := start(t)
	ctx := sr.WithParams(t.Context(), sr.Verbose)
	for _, tt := range tests {
		t.Run(tt.level.String(), func(t *testing.T) {
			subject := "chain-" + tt.level.String()
			for _, res := range cl.SetCompatibility(ctx, sr.SetCompatibility{Level: tt.level}, subject) {
				require.NoError(t, res.Err)
			}
			for _, s := range tt.chain[:2] {
				_, err := cl.CreateSchema(ctx, subject, avroSchema(s))
				require.NoError(t, err)
			}
			v3 := avroSchema(tt.chain[2])

			// Against version 2 alone, v3 is compatible at every level.
			check, err := cl.CheckCompatibility(ctx, subject, 2, v3)
			require.NoError(t, err)
			assert.True(t, check.Is, "against v2: %q", check.Messages)
			// Against version 1 alone, never.
			check, err = cl.CheckCompatibility(ctx, subject, 1, v3)
			require.NoError(t, err)
			assert.False(t, check.Is)
			// Against the versions the level names (-2: no version in the path).
			check, err = cl.CheckCompatibility(ctx, subject, -2, v3)
			require.NoError(t, err)
			assert.Equal(t, tt.wantV3, check.Is, "against the level: %q", check.Messages)

			_, err = cl.CreateSchema(ctx, subject, v3)
			if tt.wantV3 {
				require.NoError(t, err)
				return
			}
			re := responseError(t, err, 409, 409)
			assert.Contains(t, re.Message, "version 1")
			assert.NotContains(t, re.Message, "version 2")
		})
	}
}

// TestGlobalLevelAppliesWithoutSubjectOverride: the subject has no level
// of its own, so the global one (here changed to FORWARD) decides.
func TestGlobalLevelAppliesWithoutSubjectOverride(t *testing.T) {
	_, cl := start(t)
	ctx := t.Context()
	res := cl.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatForward})
	require.NoError(t, res[0].Err)
	_, err := cl.CreateSchema(ctx, "global", avroSchema(user()))
	require.NoError(t, err)
	// Adding a required field is FORWARD-compatible (not BACKWARD).
	_, err = cl.CreateSchema(ctx, "global", avroSchema(user(`{"name":"email","type":"string"}`)))
	require.NoError(t, err)
	// Removing it (for another field) is BACKWARD-compatible, not FORWARD:
	// the previous version cannot read the new data without "email".
	_, err = cl.CreateSchema(ctx, "global", avroSchema(user(`{"name":"phone","type":"string","default":""}`)))
	responseError(t, err, 409, 409)
}

// TestReadersResolveOldAndNewWriters is the other half of §7: with an
// additive change registered, a reader on either schema decodes data
// written with the other, using the schemas fetched from the registry.
func TestReadersResolveOldAndNewWriters(t *testing.T) {
	_, cl := start(t)
	ctx := t.Context()
	ev := evolutions[0] // add optional field with default
	v1, err := cl.CreateSchema(ctx, "users-value", avroSchema(ev.old))
	require.NoError(t, err)
	v2, err := cl.CreateSchema(ctx, "users-value", avroSchema(ev.new))
	require.NoError(t, err)

	parse := func(id int) avro.Schema {
		s, err := cl.SchemaByID(ctx, id)
		require.NoError(t, err)
		parsed, err := avro.ParseWithCache(s.Schema, "", &avro.SchemaCache{})
		require.NoError(t, err)
		return parsed
	}
	oldS, newS := parse(v1.ID), parse(v2.ID)
	resolve := func(reader, writer avro.Schema, data []byte) map[string]any {
		composite, err := avro.NewSchemaCompatibility().Resolve(reader, writer)
		require.NoError(t, err)
		var out map[string]any
		require.NoError(t, avro.Unmarshal(composite, data, &out))
		return out
	}

	oldData, err := avro.Marshal(oldS, map[string]any{"id": int64(7)})
	require.NoError(t, err)
	got := resolve(newS, oldS, oldData)
	assert.Equal(t, int64(7), got["id"])
	assert.Contains(t, got, "email")
	assert.Nil(t, got["email"], "the missing field takes its default")

	newData, err := avro.Marshal(newS, map[string]any{"id": int64(8), "email": map[string]any{"string": "a@b"}})
	require.NoError(t, err)
	got = resolve(oldS, newS, newData)
	assert.Equal(t, map[string]any{"id": int64(8)}, got, "the old reader skips the new field")
}
