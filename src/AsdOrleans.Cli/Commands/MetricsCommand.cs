using System.CommandLine;
using AsdOrleans.Evaluation.Dcase;

namespace AsdOrleans.Cli.Commands;

/// <summary>
/// `asd metrics`: DCASE 2023 Task 2 metrics from a labelled score CSV, or from a directory laid out for
/// the official evaluator (<see cref="DcaseEvaluator"/>). Reads only; writes nothing but the report.
/// </summary>
public static class MetricsCommand
{
    private const string Summary =
        "DCASE 2023 Task 2 metrics (AUC, pAUC, AUC(source), AUC(target), P/R/F1) of a score CSV or an official-evaluator score directory";

    private const string FileHelp = """
        CSV with the header file,label,domain,score[,decision] (any column order);
        label normal|anomaly (or anomalous, 0|1), domain source|target (or 0|1), decision 0|1.
        Or the scores `asd push --scores-out` wrote: label and domain from each
        clip's DCASE name, the decision from its alert (anomalous).
        A metric whose clips are missing (e.g. AUC(target) without target normals)
        is reported as undefined (null in --json)
        """;

    private const string ScoresDirHelp = """
        directory of anomaly_score_<machine>_section_<NN>_test.csv and, for every
        section or for none, decision_result_<machine>_section_<NN>_test.csv;
        no header, rows file_name,value (the official evaluator's format);
        each must list exactly its ground truth's clips. The official score is
        the harmonic mean of every section's AUC(source), AUC(target) and pAUC;
        undefined values are left out of it (the count used is printed)
        """;

    private const string GroundTruthHelp = """
        ground truth for --dcase, either the official evaluator's layout
          GT_DIR/ground_truth_data/ground_truth_<machine>_section_<NN>_test.csv
            rows file_name,label  (0 normal, 1 anomaly)
          GT_DIR/ground_truth_domain/ground_truth_<machine>_section_<NN>_test.csv
            rows file_name,domain (0 source, 1 target)
        or flat: GT_DIR/ground_truth_<machine>_section_<NN>_test.csv with rows
          file_name,label[,domain].
        Without a domain column or file, the domain comes from the clip name
        (_source_ / _target_, as in the development set)
        """;

    public static Command Create()
    {
        var file = new Argument<string?>("FILE") { Description = FileHelp, Arity = ArgumentArity.ZeroOrOne };
        var dcase = new Option<string?>("--dcase") { Description = ScoresDirHelp, HelpName = "SCORES_DIR" };
        var groundTruth = new Option<string?>("--ground-truth") { Description = GroundTruthHelp, HelpName = "GT_DIR" };
        var json = new Option<bool>("--json") { Description = "print one JSON object instead of a table" };
        var command = new Command("metrics", Summary) { file, dcase, groundTruth, json };
        command.SetAction(parse => Run(
            parse.GetValue(file), parse.GetValue(dcase), parse.GetValue(groundTruth), parse.GetValue(json),
            parse.InvocationConfiguration.Output));
        return command;
    }

    private static int Run(string? file, string? scoresDir, string? groundTruthDir, bool json, TextWriter output)
    {
        if (scoresDir is null)
        {
            if (groundTruthDir is not null)
                throw new UsageException("--ground-truth is only used with --dcase SCORES_DIR");
            if (file is null)
                throw new UsageException("give a CSV FILE, or --dcase SCORES_DIR --ground-truth GT_DIR");
            InputChecks.ExistingFile("FILE", file);
            var metrics = DcaseEvaluator.EvaluateCsv(file);
            if (json) DcaseEvaluator.WriteJson(output, metrics);
            else DcaseEvaluator.WriteTable(output, metrics);
            return 0;
        }
        if (file is not null)
            throw new UsageException("give either a CSV FILE or --dcase SCORES_DIR, not both");
        if (groundTruthDir is null)
            throw new UsageException("--dcase SCORES_DIR needs --ground-truth GT_DIR");
        var evaluation = DcaseEvaluator.EvaluateDcase(scoresDir, groundTruthDir);
        if (json) DcaseEvaluator.WriteJson(output, evaluation);
        else DcaseEvaluator.WriteTable(output, evaluation);
        return 0;
    }
}
