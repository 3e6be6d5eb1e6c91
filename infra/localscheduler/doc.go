// Package localscheduler does on one machine what EventBridge does for template.yaml's
// scheduled functions: it reads every Schedule and ScheduleV2 event of the template's
// functions (Load: the template is the only description of the schedules) and fires each
// function at the same times AWS would, with the same event (Scheduler.Run).
//
// On AWS a SAM Schedule event becomes an EventBridge rule, evaluated in UTC, and a ScheduleV2
// event an EventBridge Scheduler schedule, evaluated in its ScheduleExpressionTimezone (IANA
// name, default UTC). Both fire with one-minute precision.
//
// # Expressions
//
// Parse follows the EventBridge user guide ("Creating a rule that runs on a schedule") and the
// Scheduler user guide ("Schedule types"):
//
//   - rate(value unit), unit minute|minutes|hour|hours|day|days, value a positive whole
//     number; 1 takes the singular unit and values above 1 the plural, so rate(1 hours) and
//     rate(5 hour) are errors, as EventBridge's PutRule rejects them. The Scheduler guide
//     lists only the plural units; we apply the rules' stricter reading to both, so that a
//     template valid here is valid for either service.
//   - cron(Minutes Hours Day-of-month Month Day-of-week Year): exactly six fields (a 5-field
//     Unix cron or a 7-field Quartz cron with seconds is an error that says so); minutes 0-59,
//     hours 0-23, day-of-month 1-31, month 1-12 or JAN-DEC, day-of-week 1-7 or SUN-SAT
//     (1 = Sunday; 0 is an error, not Sunday), year 1970-2199. `,` `-` `*` `/` everywhere;
//     a/n runs from a to the field's end (1/10 = 1, 11, 21, ...); ranges may wrap past the
//     end (the guide's 20-2 hours, FRI-MON), except years. One of day-of-month and
//     day-of-week must be `?`, not both. Day-of-month also takes L (last day), LW (last
//     weekday) and nW (the weekday nearest day n, within the month); day-of-week takes L
//     (Saturday, "the last day of the week"), dL (the last day d of the month: 6L = last
//     Friday) and d#n (the n-th day d: 3#2 = second Tuesday), # only as the field's sole
//     expression. L and W do not combine with lists or ranges. Names are case-insensitive.
//   - at(yyyy-mm-ddThh:mm:ss), ScheduleV2 only: one time, in the schedule's time zone.
//
// # Daylight saving time (ScheduleV2)
//
// The Scheduler guide: "When time shifts forward in the Spring, if a cron expression falls on
// a non-existent date and time, your schedule invocation is skipped. When time shifts
// backwards in the Fall, your schedule runs only once and does not repeat its invocation."
// It does not say which of the two occurrences of a repeated time runs; we choose the first
// (the daylight-time one, the earlier instant), and apply the rule to every wall-clock minute,
// so cron(0/15 * * * ? *) in America/New_York fires 01:00-01:45 EDT on the fall-back night,
// skips the repeated 01:00-01:45 EST, and goes on at 02:00 EST; on the spring-forward night
// it fires 01:45 EST then 03:00 EDT. Rate expressions are absolute durations ("days
// represents a 24-hour duration"), untouched by DST. An at() time that falls in a gap is
// refused by Load; one that falls in a repeat fires at its first occurrence.
//
// # Deliveries
//
// A Schedule without Input delivers EventBridge's scheduled event: {"version":"0","id":<uuid>,
// "detail-type":"Scheduled Event","source":"aws.events","account","time":<fire time, UTC>,
// "region","resources":["arn:aws:events:<region>:<account>:rule/<name>"],"detail":{}}. A
// ScheduleV2 without Input delivers what Scheduler's API reference calls its "default
// notification" without describing it; as captured by Lambda users (aws-lambda-dotnet #1864,
// aws-powertools #6134, cloud-custodian #9566) it is the same envelope with source
// "aws.scheduler", resources ["arn:aws:scheduler:<region>:<account>:schedule/<group>/<name>"]
// and detail the JSON string "{}", not an object. With Input, either kind delivers the Input
// as is, as both services do. Region and account come from Options. An invocation error is
// logged and retried after DefaultRetryDelays (1 s, 5 s, 30 s), never stopping the
// scheduler; AWS retries far longer (185 attempts over 24 h), which matters for a service's
// outage, not a local function's bug.
//
// Fire times missed while the process was down (or the machine asleep, or an earlier
// invocation ran long) are not caught up: a fire time more than a minute late is logged
// and skipped, and the schedule goes on from its next fire time. EventBridge does not replay
// past fire times either. Disabled schedules (Enabled: false, State: DISABLED) are loaded and
// logged, and never fire. FlexibleTimeWindow is ignored: every delivery happens at the start
// of its window, which is always inside it.
package localscheduler
