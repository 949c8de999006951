package httpfault

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

func itoa(n int) string { return strconv.Itoa(n) }

func faultMessage(f Fault) string {
	return fmt.Sprintf("pipechaos injected fault: %d %s", f.Status, http.StatusText(f.Status))
}

func plainErrorBody(f Fault, _ *http.Request) (string, []byte) {
	return "text/plain; charset=utf-8", []byte(faultMessage(f) + "\n")
}

// S3ErrorBody renders a fault as an S3 error document:
//
//	<Error><Code>SlowDown</Code><Message>…</Message><Resource>/bucket/key</Resource><RequestId>…</RequestId></Error>
//
// The code is f.Code, or when empty the code S3 uses for the status
// (503 SlowDown, 500 InternalError, 403 AccessDenied, 404 NoSuchKey, …).
func S3ErrorBody(f Fault, r *http.Request) (contentType string, body []byte) {
	code := f.Code
	if code == "" {
		code = s3Code(f.Status)
	}
	doc := struct {
		XMLName   xml.Name `xml:"Error"`
		Code      string   `xml:"Code"`
		Message   string   `xml:"Message"`
		Resource  string   `xml:"Resource"`
		RequestID string   `xml:"RequestId"`
	}{Code: code, Message: faultMessage(f), Resource: r.URL.Path, RequestID: "pipechaos-fault"}
	b, err := xml.Marshal(doc)
	if err != nil { // cannot happen: every field is a string
		return plainErrorBody(f, r)
	}
	return "application/xml", append([]byte(xml.Header), b...)
}

func s3Code(status int) string {
	switch status {
	case http.StatusServiceUnavailable:
		return "SlowDown"
	case http.StatusInternalServerError:
		return "InternalError"
	case http.StatusNotImplemented:
		return "NotImplemented"
	case http.StatusForbidden:
		return "AccessDenied"
	case http.StatusNotFound:
		return "NoSuchKey"
	case http.StatusBadRequest:
		return "InvalidRequest"
	case http.StatusConflict:
		return "OperationAborted"
	case http.StatusRequestTimeout:
		return "RequestTimeout"
	default:
		return strings.ReplaceAll(http.StatusText(status), " ", "")
	}
}

// RegistryErrorBody renders a fault as a Confluent Schema Registry error:
//
//	{"error_code":50301,"message":"…"}
//
// The error code is f.Code when it is a number, otherwise the status
// followed by "01" (503 → 50301, 500 → 50001).
func RegistryErrorBody(f Fault, _ *http.Request) (contentType string, body []byte) {
	code, err := strconv.Atoi(f.Code)
	if err != nil {
		code = f.Status*100 + 1
	}
	b, _ := json.Marshal(struct {
		ErrorCode int    `json:"error_code"`
		Message   string `json:"message"`
	}{code, faultMessage(f)})
	return "application/vnd.schemaregistry.v1+json", append(b, '\n')
}
