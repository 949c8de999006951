package connect

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pipechaos/pipechaos/connectors"
)

func TestExpandFillsAddressesAndRejectsUnknownPlaceholders(t *testing.T) {
	a := connectors.Addresses{Brokers: []string{"h1:1", "h2:2"}, Topic: "audit", Group: "g", S3Endpoint: "127.0.0.1:9000",
		S3AccessKey: "ak", S3SecretKey: "sk", Bucket: "b", RegistryURL: "http://r"}
	got, err := Expand(map[string]string{"a": "${brokers}", "b": "${s3.url}/${bucket}", "c": "plain", "d": "${name}-${topic}"}, a, "sink-1")
	require.NoError(t, err)
	require.Equal(t, map[string]string{"a": "h1:1,h2:2", "b": "http://127.0.0.1:9000/b", "c": "plain", "d": "sink-1-audit"}, got)
	_, err = Expand(map[string]string{"x": "${s3.region}"}, a, "n")
	require.ErrorContains(t, err, `unknown placeholder ${s3.region} (in "x")`)
	require.ErrorContains(t, err, "${bucket}")
}

func TestLoadConnectorConfigTakesBothShapes(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
		return p
	}
	c, err := LoadConnectorConfig(write("rest.json", `{"name":"s3","config":{"connector.class":"x.S3Sink","tasks.max":2,"flag":true}}`))
	require.NoError(t, err)
	require.Equal(t, map[string]string{"connector.class": "x.S3Sink", "tasks.max": "2", "flag": "true"}, c)
	c, err = LoadConnectorConfig(write("flat.json", `{"connector.class":"x.S3Sink"}`))
	require.NoError(t, err)
	require.Equal(t, "x.S3Sink", c["connector.class"])
	_, err = LoadConnectorConfig(write("noclass.json", `{"topics":"a","nested":{"k":1}}`))
	require.ErrorContains(t, err, "no connector.class")
	require.ErrorContains(t, err, `"nested" is a map[string]interface {}`)
	_, err = LoadConnectorConfig(write("bad.json", `[1]`))
	require.ErrorContains(t, err, "not a JSON object")
	_, err = LoadConnectorConfig(filepath.Join(dir, "missing.json"))
	require.Error(t, err)
}
