namespace AsdOrleans.Encoder;

/// <summary>
/// A loss, gradient or embedding came out NaN or infinite. Never hidden: the command stops with this message, which
/// says where (step or clip), the likely cause and what to do. The CLI maps it to its own exit code.
/// </summary>
public sealed class NonFiniteValueException(string message) : Exception(message)
{
    internal static NonFiniteValueException InTraining(string what, int epoch, long step, string detail) => new(
        $"training produced a non-finite {what} at epoch {epoch + 1}, step {step + 1}{detail}. " +
        "The model was not updated with it and no model or checkpoint was written from it. " +
        "Likely causes: a learning rate too high for this batch size, or a numerical fault of the CPU kernels " +
        "(./asd doctor shows the instruction sets and the kernel settings in force); try a lower --lr, or report it with that output");

    internal static NonFiniteValueException InEmbedding(int clipIndex, int batchSize) => new(
        $"the encoder produced a non-finite embedding for clip {clipIndex + 1} of a batch of {batchSize}. " +
        "Likely causes: damaged model weights (check with asd model-info) or a numerical fault of the CPU kernels (./asd doctor)");
}
