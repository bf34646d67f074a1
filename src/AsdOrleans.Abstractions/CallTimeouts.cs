namespace AsdOrleans.Abstractions;

/// <summary>
/// Response timeouts of grain calls, for <see cref="Orleans.ResponseTimeoutAttribute"/>. The silos' and the client's
/// default is 5 minutes (enrollment and the encoder's backlog need it). A call that was delivered to a silo that then
/// crashed is failed only at its timeout: Orleans breaks a caller's outstanding calls to a dead silo only where it
/// knows the target silo, which a client behind a gateway does not; so with the default a gateway's clip call hung for
/// 5 minutes (`asd bench cluster --kill-silo`, docs/benchmarks.md).
/// </summary>
public static class CallTimeouts
{
    /// <summary>Calls that answer in milliseconds when the cluster is well (a clip, a label, a read): failed after 30 s
    /// (a 503 with Retry-After over HTTP; a clip's retry with its id is answered with the first verdict).</summary>
    public const string Quick = "00:00:30";
}
