"""Image blueprints: classification backbones and heads."""

from blueprints.vision import convnet, lenet  # noqa: F401
from blueprints.vision import densenet, mobilenet  # noqa: F401
from blueprints.vision import resnet  # noqa: F401
from blueprints.vision import convnext  # noqa: F401
from blueprints.vision import alexnet, vgg  # noqa: F401
from blueprints.vision import unet  # noqa: F401
from blueprints.vision import efficientnet  # noqa: F401
from blueprints.vision import mobilevit, vit  # noqa: F401
from blueprints.vision import inception  # noqa: F401
