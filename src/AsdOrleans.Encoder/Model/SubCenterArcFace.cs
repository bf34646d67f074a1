using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace AsdOrleans.Encoder.Model;

/// <summary>
/// Sub-center ArcFace head (Deng et al., 2020): K centres per class, cos θ = max over a class's centres
/// of cos(embedding, centre); the target logit is s·cos(θ + m), the others s·cos θ. Defaults are the
/// paper's: K = 3, s = 32, margin m reaching 0.2 through a warm-up schedule (set by the trainer).
/// </summary>
public sealed class SubCenterArcFace : Module<Tensor, Tensor, Tensor>
{
    public const int DefaultSubCenters = 3;
    public const double DefaultScale = 32;
    public const double DefaultMargin = 0.2;

    private readonly Parameter weight;
    private readonly int classes;
    private readonly int subCenters;

    public SubCenterArcFace(int embeddingDimension, int classes, int subCenters = DefaultSubCenters, double scale = DefaultScale) : base("arcface")
    {
        if (classes < 2) throw new ArgumentException($"ArcFace needs at least 2 classes, got {classes}");
        this.classes = classes;
        this.subCenters = subCenters;
        Scale = scale;
        weight = Parameter(empty(classes * subCenters, embeddingDimension));
        init.xavier_uniform_(weight);
        RegisterComponents();
    }

    public double Scale { get; }
    /// <summary>The additive angular margin m in radians; the trainer raises it from 0 to 0.2.</summary>
    public double Margin { get; set; }

    /// <summary>cos θ per class: (B, classes).</summary>
    public Tensor Cosines(Tensor embeddings)
    {
        var cosine = functional.linear(functional.normalize(embeddings, p: 2, dim: 1), functional.normalize(weight, p: 2, dim: 1));
        return cosine.view(-1, classes, subCenters).amax([2]);
    }

    /// <summary>Scaled logits with the margin on each row's target class.</summary>
    public override Tensor forward(Tensor embeddings, Tensor targets)
    {
        var cosine = Cosines(embeddings);
        double m = Margin;
        using var zero = 0.ToScalar();
        using var one = 1.ToScalar();
        using var two = 2.ToScalar();
        using var cosMargin = Math.Cos(m).ToScalar();
        using var sinMargin = Math.Sin(m).ToScalar();
        // Beyond θ = π − m, cos(θ + m) stops decreasing; use a linear continuation there (as in ArcFace's reference code).
        using var threshold = Math.Cos(Math.PI - m).ToScalar();
        using var continuation = (Math.Sin(Math.PI - m) * m).ToScalar();
        using var scale = Scale.ToScalar();
        var sine = cosine.pow(two).neg().add(one, one).clamp(zero, one).sqrt();
        var shifted = cosine.mul(cosMargin).sub(sine.mul(sinMargin));
        var fallback = cosine.sub(continuation);
        shifted = where(cosine.gt(threshold), shifted, fallback);
        var oneHot = functional.one_hot(targets, classes).to_type(cosine.dtype);
        return oneHot.mul(shifted).add(oneHot.neg().add(one, one).mul(cosine), one).mul(scale);
    }
}
