using AsdOrleans.Abstractions;

namespace AsdOrleans.Grains;

/// <summary>
/// One machine's live claims on its pending label requests (<see cref="LabelRequestClaim"/>): who listens to which clip,
/// until when. Memory only, by design: a claim is advice to other labellers, and losing it loses no label.
/// </summary>
internal sealed class LabelRequestClaims
{
    private readonly Dictionary<string, (string By, DateTimeOffset Until)> _held = new(StringComparer.Ordinal);

    /// <summary>The lease asked for, or the default; outside <see cref="LabelRequestClaim.MinLease"/>..<see cref="LabelRequestClaim.MaxLease"/> is bad input.</summary>
    public static TimeSpan LeaseOf(TimeSpan? asked)
    {
        var lease = asked ?? LabelRequestClaim.DefaultLease;
        if (lease < LabelRequestClaim.MinLease || lease > LabelRequestClaim.MaxLease)
            throw new ArgumentException($"a claim lasts {LabelRequestClaim.MinLease.TotalSeconds:0}–{LabelRequestClaim.MaxLease.TotalSeconds:0} s, not {lease.TotalSeconds:0.###} s");
        return lease;
    }

    /// <summary>The claim on a clip as of <paramref name="now"/> (a lapsed one is forgotten).</summary>
    public LabelRequestClaim Of(string machineId, string clipId, DateTimeOffset now)
    {
        if (_held.TryGetValue(clipId, out var held))
        {
            if (held.Until > now) return new(machineId, clipId, held.By, held.Until);
            _held.Remove(clipId);
        }
        return new(machineId, clipId, null, null);
    }

    /// <summary>How a claim went: taken anew, renewed by its holder, or refused (another labeller's is live).</summary>
    public enum Outcome { Taken, Renewed, Refused }

    /// <summary>Takes or renews the labeller's claim unless another one's is live.</summary>
    public (LabelRequestClaim Claim, Outcome Outcome) Take(string machineId, string clipId, string labeller, TimeSpan lease, DateTimeOffset now)
    {
        var current = Of(machineId, clipId, now);
        if (current.ClaimedBy is not null && !current.IsHeldBy(labeller))
            return (current, Outcome.Refused);
        var until = now + lease;
        _held[clipId] = (labeller, until);
        return (new(machineId, clipId, labeller, until), current.ClaimedBy is null ? Outcome.Taken : Outcome.Renewed);
    }

    /// <summary>Ends the labeller's claim if they hold it; <c>Changed</c>: it was theirs and is gone.</summary>
    public (LabelRequestClaim Claim, bool Changed) Release(string machineId, string clipId, string labeller, DateTimeOffset now)
    {
        var current = Of(machineId, clipId, now);
        if (!current.IsHeldBy(labeller))
            return (current, false);
        _held.Remove(clipId);
        return (new(machineId, clipId, null, null), true);
    }

    /// <summary>Closed requests take their claims with them.</summary>
    public void Forget(IEnumerable<string> clipIds)
    {
        if (_held.Count == 0) return;
        foreach (var clipId in clipIds) _held.Remove(clipId);
    }

    /// <summary>The request as a listing shows it: with its live claim.</summary>
    public LabelRequest Show(LabelRequest request, DateTimeOffset now)
    {
        if (_held.Count == 0) return request;
        var claim = Of(request.MachineId, request.ClipId, now);
        return claim.ClaimedBy is null ? request : request with { ClaimedBy = claim.ClaimedBy, ClaimedUntil = claim.ClaimedUntil };
    }
}
