"""Service items (事项): the basic catalogue, materials, departments and each place's list."""
