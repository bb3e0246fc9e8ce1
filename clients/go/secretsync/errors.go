package secretsync

import (
	"strings"

	v1 "github.com/hanzoai/kms-secretsync/gen/go/hanzo/kms/secretsync/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ErrorDomain is the ErrorInfo domain of every error of the service.
const ErrorDomain = "secretsync.kms.hanzo.ai"

// RichError is a failed call's status with its google.rpc details.
type RichError struct {
	Code    codes.Code
	Message string
	// Reason is the ErrorInfo's reason as the contract's constant;
	// ERROR_REASON_UNSPECIFIED when there is none or it is newer than this
	// client (RawReason still has it).
	Reason    v1.ErrorReason
	RawReason string
	// Metadata says which resource or field: "resource_type", "resource_id",
	// "field" (error_reason.proto).
	Metadata   map[string]string
	Violations []*errdetails.BadRequest_FieldViolation
}

// Rich decodes err; ok is false for an error that is not a gRPC status.
func Rich(err error) (rich RichError, ok bool) {
	st, ok := status.FromError(err)
	if !ok || st == nil {
		return RichError{}, false
	}
	rich = RichError{Code: st.Code(), Message: st.Message()}
	for _, detail := range st.Details() {
		switch d := detail.(type) {
		case *errdetails.ErrorInfo:
			if d.GetDomain() == ErrorDomain {
				rich.RawReason = d.GetReason()
				rich.Reason = v1.ErrorReason(v1.ErrorReason_value[d.GetReason()])
				rich.Metadata = d.GetMetadata()
			}
		case *errdetails.BadRequest:
			rich.Violations = append(rich.Violations, d.GetFieldViolations()...)
		}
	}
	return rich, true
}

// Fields lists the bad fields of an INVALID_ARGUMENT, each once, in order.
func (r RichError) Fields() []string {
	seen := map[string]bool{}
	fields := []string{}
	for _, v := range r.Violations {
		if !seen[v.GetField()] {
			seen[v.GetField()] = true
			fields = append(fields, v.GetField())
		}
	}
	return fields
}

// EventType is the AuditEventType constant of an audit event's event_type string
// ("secret_sync.created" is AUDIT_EVENT_TYPE_SECRET_SYNC_CREATED);
// AUDIT_EVENT_TYPE_UNSPECIFIED for a type newer than this client.
func EventType(name string) v1.AuditEventType {
	constant := "AUDIT_EVENT_TYPE_" + strings.ToUpper(strings.Replace(name, ".", "_", -1))
	return v1.AuditEventType(v1.AuditEventType_value[constant])
}
