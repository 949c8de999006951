package kafkaproxy

// ErrorResponse exposes errorResponse to the tests.
var ErrorResponse = errorResponse
