"""Leave approval (human interaction): the domain behind LeaveApproval_Client, SubmitApprovalResult,
LeaveApproval_Orchestrator and the leave activities.

    contract     function and event names, results and limits the starters, orchestrator and activities share
    requests     the rules for a leave request and an approver's decision
    settings     the workflow's app settings (deadline, reminder, approver identity, retries)
    store        the LeaveRequests table: one row per request, its status changed under ETags
    emails       the messages to the approver and the employee, written to the outbox
    settlement   ending requests whose workflow ended without a decision (run by HistoryCleanup)
"""
