"""The dispatcher: calls waiting trucks forward when their gate and yard have room."""
