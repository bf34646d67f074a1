namespace AsdOrleans.Grains.Tests.Machines;

public sealed class BoundedMemoryTests
{
    [Fact]
    public void Keeps_the_newest_entries_up_to_the_capacity_and_updates_a_known_key_in_place()
    {
        var items = new Dictionary<string, int>();
        var order = new List<string>();
        for (int i = 0; i < 5; i++)
            BoundedMemory.Remember(items, order, $"k{i}", i, capacity: 3);

        Assert.Equal(["k2", "k3", "k4"], order);
        Assert.Equal(order.Order(), items.Keys.Order());

        BoundedMemory.Remember(items, order, "k3", 30, capacity: 3);
        Assert.Equal(["k2", "k3", "k4"], order); // not a new entry: nothing is forgotten
        Assert.Equal(30, items["k3"]);
    }
}
